package challenge

import (
	"strconv"
	"strings"
)

// Text holds the words of a challenge page in one language. Templates reach
// it as {{.Text.Field}}.
type Text struct {
	// Title is the document title.
	Title string
	// Heading is the page's main heading.
	Heading string
	// GoingTo precedes the site's host name: "You are on your way to".
	GoingTo string
	// Why explains in one sentence why the check exists.
	Why string
	// Cookie tells the visitor of a cookie-level page what happens.
	Cookie string
	// Script tells the visitor of a script-level page what happens.
	Script string
	// Work tells the visitor of a work-level page what happens.
	Work string
	// NoScript explains, for visitors without JavaScript, why the page
	// cannot continue and what to do.
	NoScript string
	// Continue labels the link or button that continues by hand.
	Continue string
	// Progress labels the progress bar of the work level.
	Progress string
	// Done is shown once the answer is found, while the browser continues.
	Done string
	// Retry is shown when a previous answer was refused (too old, replayed…).
	Retry string
}

// texts are the built-in languages; the first of langOrder is the default.
var texts = map[string]Text{
	"en": {
		Title:    "Checking your browser",
		Heading:  "One moment, please",
		GoingTo:  "You are on your way to",
		Why:      "This site receives more automated traffic than it can bear, so it checks that visitors use a real browser. This happens once every few days.",
		Cookie:   "Your browser will continue by itself. If nothing happens, allow cookies for this site and use the link below.",
		Script:   "Your browser is running a short check and will continue by itself.",
		Work:     "Your browser is doing a small calculation that shows it is not a robot. It usually takes a few seconds.",
		NoScript: "This check needs JavaScript, which is turned off in your browser. Please allow JavaScript for this site and reload the page.",
		Continue: "Continue",
		Progress: "Progress of the check",
		Done:     "Done. Continuing…",
		Retry:    "The previous check was too old or not accepted; here is a new one.",
	},
	"fr": {
		Title:    "Vérification de votre navigateur",
		Heading:  "Un instant, s’il vous plaît",
		GoingTo:  "Vous allez sur",
		Why:      "Ce site reçoit plus de trafic automatisé qu’il ne peut en supporter ; il vérifie donc que ses visiteurs utilisent un vrai navigateur. Cela n’arrive qu’une fois tous les quelques jours.",
		Cookie:   "Votre navigateur va continuer tout seul. Si rien ne se passe, autorisez les cookies pour ce site et suivez le lien ci-dessous.",
		Script:   "Votre navigateur effectue une courte vérification et va continuer tout seul.",
		Work:     "Votre navigateur fait un petit calcul qui montre qu’il n’est pas un robot. Cela prend en général quelques secondes.",
		NoScript: "Cette vérification a besoin de JavaScript, qui est désactivé dans votre navigateur. Autorisez JavaScript pour ce site, puis rechargez la page.",
		Continue: "Continuer",
		Progress: "Avancement de la vérification",
		Done:     "Terminé. Suite en cours…",
		Retry:    "La vérification précédente était trop ancienne ou n’a pas été acceptée ; en voici une nouvelle.",
	},
}

// langOrder lists the supported languages, the default first.
var langOrder = []string{"en", "fr"}

// maxLangEntries bounds how many Accept-Language entries are read.
const maxLangEntries = 32

// chooseLang picks the supported language the Accept-Language header prefers
// most: highest q-value first (q=0 excludes), then header order; a tag
// matches on its primary subtag ("fr-CH" is fr); "*" stands for the default.
// Without a match it returns the default, English.
//
// It reads the header in place: every challenge page picks a language, and splitting the
// header and lower-casing its tags cost a stealth flood's challenge answer four to five
// allocations (BenchmarkHandlerChallenge, "fr-FR,fr;q=0.9,en;q=0.5").
func chooseLang(header string) string {
	best, bestQ := langOrder[0], -1.0
	rest, more := header, true
	for i := 0; more; i++ {
		if i >= maxLangEntries {
			break
		}
		var part string
		part, rest, more = strings.Cut(rest, ",")
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		for p, pmore := params, true; pmore; {
			var param string
			param, p, pmore = strings.Cut(p, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0 // a broken q-value does not win
				}
				q = f
			}
		}
		if q <= 0 || q <= bestQ {
			continue
		}
		primary, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
		if primary == "*" {
			best, bestQ = langOrder[0], q
			continue
		}
		if lang, ok := supportedLang(primary); ok {
			best, bestQ = lang, q
		}
	}
	return best
}

// supportedLang returns the supported language whose name is primary in any case. The names
// are ASCII letters, which no other letter lower-cases to: this is texts[strings.ToLower(primary)]
// without making the lower-case string.
func supportedLang(primary string) (string, bool) {
	for _, lang := range langOrder {
		if len(primary) == len(lang) && strings.EqualFold(primary, lang) {
			return lang, true
		}
	}
	return "", false
}
