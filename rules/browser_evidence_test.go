package rulefiles_test

import "testing"

// Programs dressed as browsers, and the real browsers and apps that share part of their shape:
// each program spelled the ways it is seen, each browser from a corpus or a vendor's page.
func TestProgramsDressedAsBrowsers(t *testing.T) {
	c := shipped(t, false)
	tests := []struct{ ua, class, rule string }{
		// Mozilla/… (platform) and one product that is no engine: a program.
		{"Mozilla/5.0 (pc-x86_64-linux-gnu) Siege/4.0.4", "bot", "program-after-platform"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X) Word/14.62.0", "bot", "program-after-platform"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X) PowerPoint/14.39.0", "bot", "program-after-platform"},
		{"Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.2.3) SPEng", "bot", "program-after-platform"},
		{"Mozilla/5.0 (X11; Linux x86_64)Fetchy/2.0 (build 7)", "bot", "program-after-platform"},
		{"  Mozilla/5.0 (Windows NT 10.0; Win64; x64) Widget/1", "bot", "program-after-platform"},
		// Name/version (compatible; …): a program imitating Internet Explorer.
		{"Feedable/0.1 (compatible; MSIE 6.0; Windows NT 5.1)", "bot", "program-claiming-compatible"},
		{"mozbot/1.0 (compatible; MSIE 6.0; Windows NT 5.1)", "bot", "generic-automation"},
		{"Mozz/1.0 (compatible)", "bot", "program-claiming-compatible"},
		{"M0zilla/4.0 (compatible; MSIE 6.0)", "bot", "program-claiming-compatible"},
		// A tool word inside a product name.
		{"Mozilla/3.0 (compatible; WebCapture 2.0; Auto; Windows)", "bot", "generic-automation"},
		// Browsers and apps that must stay browser.
		{"Mozilla/5.0 (Linux; x86_64) Ladybird/1.0", "browser", "browser-other"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", "browser", "browser"},
		{"Mozilla/5.0 (Mobile; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5", "browser", "browser"},
		{"Mozilla/5.0 (compatible; Konqueror/4.4; Linux) KHTML/4.4.5 (like Gecko) Kubuntu", "browser", "browser"},
		{"Mozilla/4.7 [en] (Win98; I)", "browser", "browser-platform"},
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", "browser", "browser-platform"},
		{"Mozilla/4.0 (compatible; ms-office; MSOffice 16)", "browser", "app"},
		{"Mozilla/5.0 (compatible; IBrowse 3.0; AmigaOS4.0)", "browser", "browser-other"},
		{"ICE Browser/5.05 (Java 1.4.0; Windows 2000 5.0 x86)", "browser", "app"},
		// GTmetrix's page test is a real Chrome loading one page for a person (isbot: a browser);
		// its older strings carry gtmetrix.com's URL and are automation.
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 Safari/537.36 GTmetrix", "browser", "browser"},
		{"Mozilla/5.0 (X11; Linux x86_64; GTmetrix https://gtmetrix.com/) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.106 Safari/537.36", "bot", "generic-automation"},
		// Java as a library is still a program.
		{"Java/1.8.0_221", "bot", ""},
		{"Apache-HttpClient/4.3.6 (java 1.5)", "bot", ""},
		{"MyApp/2.0 (Java-HttpClient)", "bot", ""},
	}
	for _, tt := range tests {
		res := classifyUA(c, residential, tt.ua)
		if res.Class != tt.class || (tt.rule != "" && res.Rule != tt.rule) {
			t.Errorf("%q: class %s rule %s; expected %s %s", tt.ua, res.Class, res.Rule, tt.class, tt.rule)
		}
	}
}
