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
		// A Mac desktop app's own stack is the app fetching by itself (previews, feeds,
		// downloads); the same stack on an iPhone is a person's app, and Safari's own is Safari.
		{"Mail/3445.4.7 CFNetwork/889.9 Darwin/17.2.0 (x86_64)", "bot", "mac-app-fetch"},
		{"Notes/2 CFNetwork/1494.0.7 Darwin/23.4.0 (arm64)", "bot", "mac-app-fetch"},
		{"Canary%20Mail/397 CFNetwork/893.13.1 Darwin/17.4.0 (x86_64)", "bot", "mac-app-fetch"},
		{"Polymail/1.47 (ctrlla.Polymail; build:64; OS X 10.12.6) Alamofire/4.5.1", "bot", "mac-app-fetch"},
		{"ViaFree-DK/3.8.3 (com.MTGx.ViaFree.dk; build:7383; iOS 12.1.0) Alamofire/4.7.0", "browser", "app"},
		{"hulu/50000130 cfnetwork/976 darwin/18.2.0", "browser", "app"},
		{"Safari/9537.71 CFNetwork/673.0.2 Darwin/13.0.1 (x86_64) (MacBookPro11,1)", "browser", "browser-other"},
		// Browser strings no browser writes: Internet Explorer 8 or later without its Trident
		// token, Windows by its marketing name; the real ones stay browsers.
		{"Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Clarsentia)", "bot", "generic-automation"},
		{"Mozilla/5.0 (Windows; U; MSIE 9.0; Windows NT 9.0; en-US)", "bot", "generic-automation"},
		{"Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)", "browser", ""},
		{"Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727)", "browser", ""},
		{"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SLCC2; Tablet PC 2.0)", "browser", ""},
		{"Mozilla/3.0 (compatible; WebMon 1.0.11; Windows XP)", "bot", "generic-automation"},
		{"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", "browser", ""},
		// A namespace-style name or "http" in a name added to a browser string.
		{"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.97 Safari/537.36 Yandex.Translate", "bot", "generic-automation"},
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1;Alibaba.Security.Heimdall)", "bot", "generic-automation"},
		{"Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.0; Trident/4.0; BacklinkHttpStatus)", "bot", "generic-automation"},
		{"Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; InfoPath.3; OfficeLiveConnector.1.5)", "browser", ""},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "browser", "browser"},
		// QtWebKit's default string names the embedding program between the engine and
		// Safari/: a bare lower-case name is a tool; its browsers name a version or are named.
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.21 (KHTML, like Gecko) wpif Safari/537.21", "bot", "QtWebKit-tool"},
		{"Mozilla/5.0 (X11; BSD Four) AppleWebKit/534.34 (KHTML, like Gecko) pagegrab.v2 Safari/534.34", "bot", "QtWebKit-tool"},
		{"Mozilla/5.0 (X11; U; BSD Four; en-US) AppleWebKit/533.3 (KHTML, like Gecko) rekonq Safari/533.3", "browser", "qtwebkit-browsers"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) rekonq/2.4.2 Safari/534.34", "browser", "browser"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) QupZilla/1.8.9 Safari/538.1", "browser", "browser"},
		{"Mozilla/5.0 (X11; Linux) AppleWebKit/534.34 (KHTML, like Gecko) QtCarBrowser Safari/534.34", "browser", "browser"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile Safari/604.1", "browser", "browser"},
		// A product written "Name 1.2" after the browser's last token: a program's spelling;
		// browsers and apps write "Name/1.2" or a bare name there.
		{"Mozilla/5.0 (Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36 Nodemeter 0.7", "bot", "generic-automation"},
		{"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 linkwatch v2.1.0", "bot", "generic-automation"},
		{"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 Viber", "browser", "browser"},
		{"Mozilla/5.0 (Linux; Android 12; SM-A125F Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 Instagram 333.0.0.42.91 Android (31/12; 280dpi; 720x1465; samsung; SM-A125F; a12; mt6765; en_US; 606558400)", "browser", ""},
		// Named fetchers under a browser's string.
		{"Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0; WAC-OFU)", "bot", "link-unfurlers-misc"},
		{"Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/61.0.3163.100 Safari/537.36 Pix/1.0 (Criteo; x64-criteo)", "bot", "ad-verification"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.11 (KHTML, like Gecko) Chrome/23.0.1271.64 Safari/537.11 KimonoLabs/0.2", "bot", "scraping-services"},
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
