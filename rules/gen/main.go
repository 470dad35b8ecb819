// Command gen writes rules/20-ai-crawlers.yaml from the ai.robots.txt project's robots.json and
// from more-ai-tokens.tsv: AI crawler and agent tokens that robots.json lacks, each named by
// another maintained list (its "sources" column: Anubis, matomo device-detector,
// Crawler-Detect, go-away, isbot, ua-parser-js, Cloudflare Radar), kept beside this file.
//
// Run it from the repository root after refreshing rules/gen/robots.json:
//
//	go run ./rules/gen
//
// Every token of robots.json becomes one identity rule (name and bot = the token), sorted into
// one of three groups by its "function" field — training crawlers, AI search crawlers and
// user-triggered assistant fetchers — each group with its own budgets. A function text the
// generator does not know stops it with an error naming the token, so a refreshed robots.json
// never slips a new agent into a group by accident: add the text to groupByFunction (or the
// token to groupByToken) and run again.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// group is one of the three families AI agents are sorted into.
type group struct {
	key     string
	title   string
	class   string
	about   string
	budgets []string // YAML lines of the budgets list, without indentation
}

var groups = []*group{
	{
		key:   "training",
		title: "Training and data-collection crawlers",
		class: "ai-crawler",
		about: `They crawl in bulk to train models or to sell data sets, and send no visitors back.
They get the strictest budgets: one member site serves one of them at most one page a second,
and all 1,000 sites together at most ten a second. A well-behaved crawler slows down on 429.`,
		budgets: []string{
			"- rate: 60/min        # one site, one crawler: a page a second at most",
			"  per: bot+host",
			"  action: throttle",
			"- rate: 600/min       # every site together: 10 pages a second per crawler",
			"  per: bot",
			"  action: throttle",
		},
	},
	{
		key:   "search",
		title: "AI search crawlers",
		class: "ai-crawler",
		about: `They index pages for an AI search or answer engine, which can cite and link the site.
Twice the training budgets: two pages a second per site, 20 a second over all sites.`,
		budgets: []string{
			"- rate: 120/min       # one site, one crawler",
			"  per: bot+host",
			"  action: throttle",
			"- rate: 1200/min      # every site together",
			"  per: bot",
			"  action: throttle",
		},
	},
	{
		key:   "user",
		title: "User-triggered assistant fetchers and agents",
		class: "ai-crawler",
		about: `They fetch a page because a person asked an assistant, agent or coding tool to read it.
They are never blocked by the shipped rules and are counted per client address (one person's
session), like a browser, with a cap per site in case one link goes viral in an assistant.
They keep the class ai-crawler, so a policy rule that matches class ai-crawler (a site that
wants no AI at all) covers them too — exactly what ai.robots.txt lists them for.`,
		budgets: []string{
			"- rate: 60/min        # one address: a person's assistant reads a page or a few",
			"  per: ip",
			"  action: throttle",
			"- rate: 300/min       # one site, every user of this assistant together",
			"  per: bot+host",
			"  action: throttle",
		},
	},
}

// groupByFunction maps robots.json "function" texts to a group key.
var groupByFunction = map[string]string{
	// Category names of the knownagents.com import.
	"AI Data Scrapers":       "training",
	"AI Data Providers":      "training", // bulk collectors that resell content to AI companies
	"Undocumented AI Agents": "training", // unknown purpose: strictest budgets are the safe default
	"AI Search Crawlers":     "search",
	"AI Assistants":          "user",
	"AI Agents":              "user",
	"AI Coding Agents":       "user",

	// Free-text functions.
	"LLM training.":                                                          "training",
	"LLM/AI training.":                                                       "training",
	"AI model training.":                                                     "training",
	"AI LLM Scraper.":                                                        "training",
	"AI data scraper":                                                        "training",
	"Scrapes data.":                                                          "training",
	"Data is sold.":                                                          "training",
	"Unclear at this time.":                                                  "training",
	"AI research crawler":                                                    "training",
	"Training language models":                                               "training",
	"Data Scraper from RSS Feeds.":                                           "training",
	"AI powered translation service":                                         "training",
	"Scrapes data for AI training.":                                          "training",
	"Scrapes images for use in LLMs.":                                        "training",
	"Insights on AI integration and automation.":                             "training",
	"Content is used to train open language models.":                         "training",
	"Scrapes data to train Anthropic's AI products.":                         "training",
	"Scrapes data to train OpenAI's products.":                               "training",
	"Scrapes data to train and support AI technologies.":                     "training",
	"Scrapes data to train machine learning models.":                         "training",
	"Scrapes data for use in training LLMs.":                                 "training",
	"Scrapes data for a variety of uses including training AI.":              "training",
	"Extracts data for a variety of uses including training AI.":             "training",
	"Scrapes data for business data sets and machine learning models.":       "training",
	"Training language models and improving AI products":                     "training",
	"Used to train models and improve products.":                             "training",
	"Data collection to support AI-powered products.":                        "training",
	"Data collection and analysis using machine learning and AI.":            "training",
	"AI tools and models for machine learning research.":                     "training",
	"Data scraping for custom AI applications.":                              "training",
	"Build and manage AI models for businesses employing Vertex AI":          "training",
	"Company offers AI detection, writing tools and other services.":         "training",
	"Crawls your site for ContentShake AI tool.":                             "training",
	"Uses data gathered in AI development and information analysis.":         "training",
	"A massive, artificial intelligence/machine learning, automated system.": "training",
	"We are using the data from the crawler to build datasets for machine learning experiments.": "training",
	"Provides open crawl dataset, used for many purposes, including Machine Learning/AI.":        "training",
	"Powers features in Siri, Spotlight, Safari, Apple Intelligence, and others.":                "training",
	"Collects data for AI search":                                                  "search",
	"Collects data for AI natural language search":                                 "search",
	"Search result generation.":                                                    "search",
	"Search engine using generative AI, AI Search Assistant":                       "search",
	"Crawls sites to provide answers to user queries.":                             "search",
	"Scrapes/analyzes data for the YandexGPT LLM.":                                 "search",
	"Scrapes data for search engine and LLMs.":                                     "search",
	"AI search, assistants and agents":                                             "search",
	"Service improvement and enabling answers for Alexa users.":                    "search",
	"Used to provide recommendations in Hauwei assistant and AI search services.":  "search",
	"Retrieves data to provide responses to user-initiated prompts.":               "user",
	"Takes action based on user prompts.":                                          "user",
	"AI Learning Companion":                                                        "user",
	"Live chat support and lead generation.":                                       "user",
	"Checks URLs on your site for SEO Writing Assistant.":                          "user",
	"Used as part of AI apps developed by users of Google's Firebase AI products.": "user",
	"Ostensibly only for sharing, but likely used as an AI crawler as well":        "user",
}

// groupByToken overrides the function text where the token's own description says otherwise.
var groupByToken = map[string]string{
	// Function "AI Assistants", but the descriptions say they crawl and index:
	"DuckAssistBot":    "search", // "scans websites to collect content for DuckDuckGo's AI-assisted answers"
	"meta-webindexer":  "search", // "navigates the web to improve Meta AI search result quality"
	"amazon-QBusiness": "search", // "fetches and indexes web content for Amazon Q Business"
	// Function "AI Data Providers", but they are search engines/indexes that answer queries:
	"Bravebot": "search", // Brave Search's index
	// Long free-text functions, matched by token rather than by the whole text:
	"Claude-SearchBot":    "search",
	"ImagesiftBot":        "training",
	"YaK":                 "training",
	"PetalBot":            "search",
	"ISSCyberRiskCrawler": "training",
	"Cotoyogi":            "training",
	"Factset_spyderbot":   "training",
}

// boundedTokens are tokens that are ordinary words or very short: matched as a whole word
// (not inside a longer word such as "Baiduspider" or "opencode") instead of as a substring.
var boundedTokens = map[string]bool{
	"LCC": true, "YaK": true, "Trae": true, "Code": true, "Devin": true, "Cursor": true,
	"Spider": true, "OpenAI": true, "UseAI": true, "newsai": true, "Scrapy": true,
	"Operator": true, "opencode": true, "sora": true,
	"Bytedance": true, // go-away's name for ByteDance's crawler; TikTok's app says "BytedanceWebview"
}

// versionedTokens are common English words: they only count when followed by a version
// ("Cursor/1.2"), the way a program names itself in a User-Agent.
var versionedTokens = map[string]bool{
	"Code": true, "Cursor": true, "Operator": true, "Spider": true, "Devin": true, "Trae": true,
}

// agent is one robots.json entry.
type agent struct {
	Token       string
	Operator    string `json:"operator"`
	Respect     string `json:"respect"`
	Function    string `json:"function"`
	Frequency   string `json:"frequency"`
	Description string `json:"description"`
	group       *group
}

func main() {
	in := flag.String("in", "rules/gen/robots.json", "robots.json of the ai.robots.txt project")
	more := flag.String("more", "rules/gen/more-ai-tokens.tsv", "more AI tokens, tab-separated: token, sources, first_note, ...")
	out := flag.String("out", "rules/20-ai-crawlers.yaml", "rule file to write")
	flag.Parse()
	if err := run(*in, *more, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, more, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("%w (run from the repository root: go run ./rules/gen)", err)
	}
	agents, err := parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	tsv, err := os.ReadFile(more)
	if err != nil {
		return err
	}
	extra, err := parseMore(tsv, agents)
	if err != nil {
		return fmt.Errorf("%s: %w", more, err)
	}
	agents = order(append(agents, extra...))
	yaml, err := render(agents)
	if err != nil {
		return err
	}
	return os.WriteFile(out, yaml, 0o644)
}

// parse reads robots.json and puts every agent in its group.
func parse(data []byte) ([]*agent, error) {
	var raw map[string]*agent
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not the robots.json format (an object of token -> {operator, function, ...}): %w", err)
	}
	byKey := map[string]*group{}
	for _, g := range groups {
		byKey[g.key] = g
	}
	var agents []*agent
	var errs []error
	for tok, a := range raw {
		if a == nil || strings.TrimSpace(tok) == "" {
			errs = append(errs, fmt.Errorf("entry %q is empty", tok))
			continue
		}
		a.Token = tok
		key, ok := groupByToken[tok]
		if !ok {
			key, ok = groupByFunction[a.Function]
		}
		if !ok {
			errs = append(errs, fmt.Errorf("token %q: function %q is in no group (add it to groupByFunction or the token to groupByToken in rules/gen/main.go)", tok, a.Function))
			continue
		}
		a.group = byKey[key]
		agents = append(agents, a)
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	return order(agents), nil
}

// order sorts agents by group, then by name, and then moves every token before the tokens it
// contains (case-insensitively), so that "iaskspider/2.0" is tried before "iaskspider" and
// "Claude-Code" before "Code": identity rules are first-match.
func order(agents []*agent) []*agent {
	gi := map[*group]int{}
	for i, g := range groups {
		gi[g] = i
	}
	sort.Slice(agents, func(i, j int) bool {
		a, b := agents[i], agents[j]
		if gi[a.group] != gi[b.group] {
			return gi[a.group] < gi[b.group]
		}
		la, lb := strings.ToLower(a.Token), strings.ToLower(b.Token)
		if la != lb {
			return la < lb
		}
		return a.Token < b.Token
	})
	// Bounded topological pass: each round moves a contained token after its container.
	for round := 0; round < len(agents); round++ {
		moved := false
		for i := 0; i < len(agents) && !moved; i++ {
			if !substringMatched(agents[i].Token) {
				continue // a whole-word or exact-case pattern does not fire inside a longer token
			}
			short := strings.ToLower(agents[i].Token)
			for j := i + 1; j < len(agents); j++ {
				long := strings.ToLower(agents[j].Token)
				if long != short && strings.Contains(long, short) {
					a := agents[i]
					copy(agents[i:j], agents[i+1:j+1])
					agents[j] = a
					moved = true
					break
				}
			}
		}
		if !moved {
			break
		}
	}
	return agents
}

// caseSensitiveTokens are tokens that another, unrelated bot spells the same but for case:
// matched in their own spelling only. ExaBot is Exa.ai's crawler; Exabot is Exalead's (a
// search engine since 2000s), which 30-automation.yaml's rules see instead.
var caseSensitiveTokens = map[string]bool{"ExaBot": true}

// substringMatched reports whether a token is matched anywhere in the User-Agent.
func substringMatched(tok string) bool {
	return !boundedTokens[tok] && !versionedTokens[tok] && !caseSensitiveTokens[tok]
}

// skipMore are tokens of more-ai-tokens.tsv that do not name an AI crawler or agent, with why.
var skipMore = map[string]string{
	"SemrushBot-BA": "Semrush's SEO tools, not AI (30-automation.yaml's SemrushBot rule)",
	"SemrushBot-CT": "Semrush's SEO tools, not AI (30-automation.yaml's SemrushBot rule)",
	"SemrushBot-SI": "Semrush's SEO tools, not AI (30-automation.yaml's SemrushBot rule)",
	"imgproxy":      "an image-resizing server anyone runs, not an AI agent",
	"ias_crawler":   "Integral Ad Science's ad-verification crawler (30-automation.yaml)",
	"ias_wombles":   "Integral Ad Science's ad-verification crawler",
	"AutoRAG":       "Cloudflare Radar's display name of Cloudflare-AutoRAG, which robots.json has",
}

// parseMore reads more-ai-tokens.tsv (header line, then token, sources, first_note,
// variant_of_robots_json_token, caveat) and returns one agent per AI token, grouped by the
// category its source gives ("AI Assistant", "AI Search Crawler", "Fetchers"...).
func parseMore(data []byte, known []*agent) ([]*agent, error) {
	byKey := map[string]*group{}
	for _, g := range groups {
		byKey[g.key] = g
	}
	seen := map[string]bool{}
	for _, a := range known {
		seen[strings.ToLower(a.Token)] = true
	}
	var out []*agent
	var errs []error
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "token\tsources") {
		return nil, errors.New("not the more-ai-tokens format (a header line \"token<TAB>sources<TAB>first_note...\")")
	}
	for i, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) < 3 || strings.TrimSpace(f[0]) == "" {
			errs = append(errs, fmt.Errorf("line %d: expected token, sources, first_note", i+2))
			continue
		}
		tok, sources, note := strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), strings.TrimSpace(f[2])
		if _, skip := skipMore[tok]; skip {
			continue
		}
		if seen[strings.ToLower(tok)] {
			errs = append(errs, fmt.Errorf("line %d: token %q is already in robots.json", i+2, tok))
			continue
		}
		seen[strings.ToLower(tok)] = true
		key := "training" // crawlers and scrapers; the strictest budgets are the safe default
		switch {
		case strings.Contains(note, "AI Assistant") || strings.Contains(note, "Fetchers"):
			key = "user"
		case strings.Contains(note, "AI Search"):
			key = "search"
		}
		out = append(out, &agent{Token: tok, Function: note, group: byKey[key],
			Description: "Named as an AI crawler or agent by " + strings.ReplaceAll(sources, ",", ", ") + " (" + note + ")."})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// match returns the YAML match line for a token and whether it is a regex.
func match(a *agent, caseTwin bool) string {
	tok := a.Token
	q := regexp.QuoteMeta(tok)
	switch {
	case caseSensitiveTokens[tok]:
		return fmt.Sprintf("user_agent_regex: [%s]", yq("(?-i:"+q+")"))
	case caseTwin:
		// Another token differs from this one only in case: match this spelling exactly, and
		// leave other spellings to the twin.
		return fmt.Sprintf("user_agent_regex: [%s]", yq("(?-i:"+q+")"))
	case tok == "Cursor":
		// Cursor's agent fetches pages with the editor's Electron User-Agent, where "Cursor/3.0"
		// follows "(KHTML, like Gecko) " (isbot counts it as a crawler; VS Code's "Code/" and
		// Trae's "Trae/" in the same place are people's editors, and isbot counts them as browsers).
		return fmt.Sprintf("user_agent_regex: [%s]", yq(`(?:^|[;(]\s*|\)\s+)`+q+`/`))
	case versionedTokens[tok]:
		return fmt.Sprintf("user_agent_regex: [%s]", yq(`(?:^|[;(]\s*)`+q+`/`))
	case boundedTokens[tok]:
		// Not inside a longer word or a host name ("https://openai.com/" is not the OpenAI bot).
		return fmt.Sprintf("user_agent_regex: [%s]", yq(`(?:^|[^a-z0-9_./-])`+q+`(?:[^a-z0-9_.-]|$)`))
	}
	return fmt.Sprintf("user_agent: [%s]", yq(tok))
}

// yq quotes a YAML scalar (single quotes: no escapes but ”).
func yq(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// oneLine flattens a robots.json text for a YAML comment or description.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(s, "$1") // markdown links
	if len(s) > max {
		cut := strings.LastIndex(s[:max], " ")
		if cut < max/2 {
			cut = max
		}
		s = s[:cut] + "…"
	}
	return s
}

func render(agents []*agent) ([]byte, error) {
	var b bytes.Buffer
	counts := map[*group]int{}
	for _, a := range agents {
		counts[a.group]++
	}
	fmt.Fprintf(&b, `# generated by "go run ./rules/gen" from rules/gen/robots.json and rules/gen/more-ai-tokens.tsv
# — DO NOT EDIT.
#
# AI crawlers and agents: every user-agent token of the ai.robots.txt project's robots.json
# (https://github.com/ai-robots-txt/ai.robots.txt, MIT licence, rules/gen/LICENSE; snapshot
# of Aug 2026), and the AI tokens of rules/gen/more-ai-tokens.tsv that robots.json lacks, each
# with the maintained list that names it (Anubis, matomo device-detector, Crawler-Detect,
# go-away, isbot, ua-parser-js, Cloudflare Radar; see rules/gen/README.md), %d tokens in all,
# one identity rule each: the rule name and the bot are the token, so logs and metrics name
# the family.
#
# To change a group, a budget or how a token is matched, edit rules/gen/main.go and run the
# generator again; to override on one server, load your own rule file after the shipped ones.
#
# None of these rules is verified by address: an AI crawler from an unexpected network is
# still counted as that crawler (impostors of AI crawlers gain nothing worth protecting).
# DuckAssistBot is claimed first, and verified, by 10-search-engines.yaml (DuckDuckGo
# publishes its addresses); its rule here catches nothing and is kept for completeness.
#
# Groups (by robots.json "function", see groupByFunction in rules/gen/main.go):
`, len(agents))
	for _, g := range groups {
		fmt.Fprintf(&b, "#   %-48s %3d tokens, class %s\n", g.title, counts[g], g.class)
	}
	fmt.Fprintf(&b, "#\n# Order: grouped as above, except that a token is always tried before any shorter token\n")
	fmt.Fprintf(&b, "# it contains (\"iaskspider/2.0\" before \"iaskspider\"): the first identity rule that matches wins.\n\n")
	b.WriteString("rules:\n")

	lowerCount := map[string]int{}
	for _, a := range agents {
		lowerCount[strings.ToLower(a.Token)]++
	}
	seenLower := map[string]int{}
	var cur *group
	for _, a := range agents {
		if a.group != cur {
			cur = a.group
			fmt.Fprintf(&b, "\n  # ---- %s (class %s) ----\n", cur.title, cur.class)
			for _, l := range strings.Split(cur.about, "\n") {
				fmt.Fprintf(&b, "  # %s\n", l)
			}
			b.WriteString("\n")
		}
		low := strings.ToLower(a.Token)
		seenLower[low]++
		// All but the last of a set of case twins match their own spelling only.
		caseTwin := lowerCount[low] > 1 && seenLower[low] < lowerCount[low]
		fmt.Fprintf(&b, "  - name: %s\n", yq(a.Token))
		fmt.Fprintf(&b, "    description: %s\n", yq(oneLine(cur.key+": "+operator(a)+a.Description, 200)))
		fmt.Fprintf(&b, "    # function: %s\n", oneLine(a.Function, 150))
		fmt.Fprintf(&b, "    class: %s\n", cur.class)
		fmt.Fprintf(&b, "    bot: %s\n", yq(a.Token))
		fmt.Fprintf(&b, "    match:\n      %s\n", match(a, caseTwin))
		b.WriteString("    budgets:\n")
		for _, l := range cur.budgets {
			fmt.Fprintf(&b, "      %s\n", l)
		}
	}
	return b.Bytes(), nil
}

func operator(a *agent) string {
	op := oneLine(a.Operator, 60)
	if op == "" || strings.HasPrefix(op, "Unclear") || op == "Unknown" {
		return ""
	}
	return op + ". "
}
