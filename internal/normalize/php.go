package normalize

import "strings"

// phpExtensions are the extensions Apache or nginx hand to PHP in the configurations found on
// shared hosts: Debian's <FilesMatch ".+\.ph(ar|p|tml)$">, older AddHandler and AddType lines
// (php3, php4, php5, pht, phtml), and the php7/php8 handlers some hosts add per version.
var phpExtensions = map[string]bool{
	"php": true, "php2": true, "php3": true, "php4": true, "php5": true, "php6": true,
	"php7": true, "php8": true, "pht": true, "phtml": true, "phar": true,
}

// IsPHP reports whether a file name runs as PHP on a shared host. Under Apache's AddHandler
// every extension of a name counts, not only the last (x.php.jpg runs as PHP: the classic
// upload-filter bypass); extensions are compared without case, and without the trailing dots
// and spaces Windows drops and some upload filters leave (x.php., "x.php ").
func IsPHP(name string) bool {
	name = asciiLower(name)
	first := true
	for part := range strings.SplitSeq(name, ".") {
		if first { // the name before its first extension (or a leading dot's empty part)
			first = false
			continue
		}
		part = strings.TrimRight(part, " ")
		if i := strings.IndexByte(part, ';'); i >= 0 { // x.php;.jpg
			part = part[:i]
		}
		if phpExtensions[part] {
			return true
		}
	}
	return false
}
