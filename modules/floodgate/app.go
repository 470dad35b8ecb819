// Package floodgate holds floodgate's Caddy adapters: the "floodgate" app that owns the shared
// state (compiled rules, counters, ASN database), the http.handlers.floodgate handler that
// applies it to each request, their Caddyfile syntax, and metrics. The logic itself lives in
// internal/ and knows nothing of Caddy.
package floodgate

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/ulule/limiter/v3"
	"go.uber.org/zap"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/challenge"
	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/protect"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
	"github.com/floodgate-proxy/floodgate/rules"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the floodgate app: the state every floodgate handler in every site shares. The
// counter store and the ASN database are kept across config reloads as long as their
// configuration does not change, so a reload does not reset counters.
type App struct {
	// Rules lists the rule files to load, in order. The word "shipped" stands for the rule
	// files built into floodgate (see rules/README.md). Default: ["shipped"].
	Rules []string `json:"rules,omitempty"`

	// ASNDB is the path of a MaxMind-format ASN database (GeoLite2-ASN, DB-IP ASN Lite).
	// Without one, ASNs are unknown and rules matching on asn never match.
	ASNDB string `json:"asn_db,omitempty"`

	// PrefixV4 is the length of the network prefix counted as one client network for IPv4
	// (budgets "per prefix"). Default 24.
	PrefixV4 int `json:"prefix_v4,omitempty"`

	// PrefixV6 is the same for IPv6. Default 64.
	PrefixV6 int `json:"prefix_v6,omitempty"`

	// PrefixV6Wide is the wider IPv6 network budgets per prefix also count, each against the
	// budget's rate: an IPv6 client holds a /48 (or a /56) and could take a new /64 of it for
	// every request. Default 48; equal to PrefixV6: only the /64 is counted.
	PrefixV6Wide int `json:"prefix_v6_wide,omitempty"`

	// Store says where counters live. Default: in memory, in this process.
	Store StoreConfig `json:"store,omitzero"`

	// Challenge sets up challenge pages and passes (keys, pass lifetime, difficulty, page).
	Challenge ChallengeConfig `json:"challenge,omitzero"`

	// Shadow turns every action into "log" everywhere: nothing is refused, everything that
	// would be is counted, logged and measured. Use it to watch floodgate before trusting it.
	Shadow bool `json:"shadow,omitempty"`

	// Protect protects the shared backend: in-flight caps and the under-attack mode.
	Protect ProtectConfig `json:"protect,omitzero"`

	// ContentHash is a hash of the content of the rule files, the range files they name and
	// the ASN database, written by the Caddyfile adapter. floodgate does not read it: it is
	// there so that a config differs when those files change, and `floodgate reload` applies
	// an edited rule file or a new .mmdb even when the Caddyfile is unchanged (Caddy skips a
	// config identical to the running one). With a JSON config, change it (or reload with
	// --force) after editing a file.
	ContentHash string `json:"content_hash,omitempty"`

	state     *state
	publish   func() // applies this config to the shared protection; set by Provision, run by Start
	ctx       caddy.Context
	storeKey  string
	fleetKey  string
	asnKey    string
	protected bool
	logger    *zap.Logger
}

// state is what handlers use per request, built once per config load.
type state struct {
	classifier *classify.Classifier
	decider    *verdict.Decider
	challenger *challenge.Challenger
	metrics    *metrics
	store      limiter.Store
	logger     *zap.Logger
	shadow     bool
	protection *protection
	protect    ProtectConfig
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "floodgate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision loads rules, opens (or reuses) the store and the ASN database, and prepares the
// backend's protection. It changes nothing the running configuration uses: Start publishes.
// On any error it releases what it took, and the running configuration (if any) keeps
// serving exactly as before.
func (a *App) Provision(ctx caddy.Context) (err error) {
	a.logger = ctx.Logger()
	a.ctx = ctx
	defer func() {
		if err != nil {
			_ = a.Cleanup()
		}
	}()
	if err := a.Valid(); err != nil {
		return fmt.Errorf("floodgate: %w", err)
	}
	if len(a.Rules) == 0 {
		a.Rules = []string{rulefiles.Shipped}
	}
	lens := network.PrefixLengths{V4: a.PrefixV4, V6: a.PrefixV6, V6Wide: a.PrefixV6Wide}.WithDefaults()
	if err := lens.Valid(); err != nil {
		return fmt.Errorf("floodgate: %w", err)
	}
	set, err := rulefiles.Load(a.Rules...)
	if err != nil {
		return fmt.Errorf("floodgate: rule files have errors (%s):\n%w", whatHappensOnError(), err)
	}
	var asn classify.ASNLookup
	if a.ASNDB != "" {
		db, key, err := loadASNDB(a.ASNDB)
		if err != nil {
			return fmt.Errorf("floodgate: asn_db: %w", err)
		}
		a.asnKey = key
		asn = db
		info := db.Info()
		a.logger.Info("ASN database loaded", zap.String("path", a.ASNDB), zap.String("database", info.String()))
	} else if prefixes, from, err := rulefiles.ASNPrefixes(a.Rules...); err != nil {
		return fmt.Errorf("floodgate: AS prefix lists: %w", err)
	} else if prefixes != nil {
		// No ASN database: the hosting networks' prefix lists tell their AS numbers.
		asn = prefixes
		n, ases := prefixes.Networks()
		a.logger.Info("no ASN database: AS numbers of the listed hosting networks from their prefix lists",
			zap.String("file", from), zap.Int("prefixes", n), zap.Int("as_numbers", ases))
	}
	st, key, err := loadStore(a.Store, a.logger)
	if err != nil {
		return fmt.Errorf("floodgate: %w", err) // the store's errors say "store: …"
	}
	a.storeKey = key
	fl, fkey, err := loadFleet(a.Store, a.logger)
	if err != nil {
		return fmt.Errorf("floodgate: store: %w", err)
	}
	a.fleetKey = fkey
	ch, err := newChallenger(a.Challenge, st, fleetPassKey(fl, a.Challenge, a.logger))
	if err != nil {
		return fmt.Errorf("floodgate: challenge: %w", err)
	}
	// The memory store never waits on the network, and the batched store bounds its own waits
	// (its Timeout, near a limit only): no deadline needed.
	storeTimeout := time.Duration(-1)
	if a.Store.Mode == "exact" {
		storeTimeout = time.Duration(a.Store.Timeout)
	}
	attackLevel, err := a.Protect.UnderAttack.level()
	if err != nil {
		return fmt.Errorf("floodgate: protect: %w", err)
	}
	decider := verdict.New(st, verdict.Options{StoreTimeout: storeTimeout, UnderAttackLevel: attackLevel})
	m, err := newMetrics(ctx.GetMetricsRegistry(), st, decider)
	if err != nil {
		return fmt.Errorf("floodgate: metrics: %w", err)
	}
	prot, publish, err := a.prepareProtection(set)
	if err != nil {
		return fmt.Errorf("floodgate: protect: %w", err)
	}
	prot.fleet.Store(fl) // nil without Redis
	a.state = &state{
		classifier: classify.New(set, asn, lens),
		challenger: ch,
		decider:    decider,
		metrics:    m,
		store:      st,
		logger:     a.logger,
		shadow:     a.Shadow,
		protection: prot,
		protect:    a.Protect,
	}
	st0 := a.state
	a.publish = func() {
		publish()
		prot.current.Store(st0)
		currentProtection.Store(prot)
		for _, site := range prot.detector.ActiveSites() {
			m.underAttack.WithLabelValues(prot.siteLabel(site)).Set(1)
		}
	}
	for _, w := range set.Warnings {
		a.logger.Warn("rule files: " + w)
	}
	a.logger.Info("rules loaded", zap.Strings("files", set.Files), zap.Int("rules", len(set.Rules)),
		zap.Int("site_patterns", set.Sites.Len()), zap.String("store", a.Store.describe()), zap.Bool("shadow", a.Shadow))
	return nil
}

// prepareProtection takes a hold on the shared protection state and returns the function
// that applies this config to it (the caps, the under-attack thresholds, and the modes sites
// set by hand), for Start to run: a config refused after this point changes nothing.
func (a *App) prepareProtection(set *rules.Set) (*protection, func(), error) {
	u := a.Protect.UnderAttack
	defaultRate := 0.0
	if rate := cmp.Or(u.Rate, DefaultAttackRate); rate != "off" {
		r, err := rules.ParseRate(rate)
		if err != nil {
			return nil, nil, fmt.Errorf("under_attack rate: %w", err)
		}
		defaultRate = perSecond(r)
	}
	v, _, err := protections.LoadOrNew(protectionKey, func() (caddy.Destructor, error) { return newProtection(), nil })
	if err != nil {
		return nil, nil, err
	}
	a.protected = true
	p := v.(*protection)
	sites := map[string]*rules.Site{}
	modes := map[string]protect.Mode{}
	set.Sites.Each(func(s *rules.Site) {
		sites[s.Name] = s
		modes[s.Name] = s.UnderAttack
	})
	admissionOpts := admission.Options{
		BackendCap: a.Protect.BackendMaxInflight,
		QueueLen:   a.Protect.QueueLength,
		MaxWait:    time.Duration(a.Protect.MaxWait),
	}
	detectorOpts := u.detectorOptions(defaultRate, func(name string) float64 {
		if s := sites[name]; s != nil && s.AttackRate.Limit > 0 {
			return perSecond(s.AttackRate)
		}
		return 0
	}, func(name string) bool { return sites[name] != nil }, p.switched)
	return p, func() {
		p.admission.Reconfigure(admissionOpts)
		p.detector.Reconfigure(detectorOpts)
		for name, mode := range modes {
			p.detector.SetMode(name, mode)
		}
	}, nil
}

func perSecond(r rules.Rate) float64 { return float64(r.Limit) / r.Period.Seconds() }

// Start publishes what Provision prepared: this config's caps, under-attack settings and site
// modes go to the protection shared across reloads. Caddy starts a config only once every
// module of it provisioned, so a refused config never gets here.
func (a *App) Start() error {
	if a.publish != nil {
		a.publish()
		a.publish = nil
	}
	a.warnLooseTrustedProxies()
	return nil
}

// Stop does nothing: shared resources are released in Cleanup.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the shared store and ASN database; they close when
// no config holds them any more.
func (a *App) Cleanup() error {
	var errs []error
	if a.storeKey != "" {
		if _, err := stores.Delete(a.storeKey); err != nil {
			errs = append(errs, err)
		}
		a.storeKey = ""
	}
	if a.fleetKey != "" {
		if _, err := fleets.Delete(a.fleetKey); err != nil {
			errs = append(errs, err)
		}
		a.fleetKey = ""
	}
	if a.asnKey != "" {
		if _, err := asnDBs.Delete(a.asnKey); err != nil {
			errs = append(errs, err)
		}
		a.asnKey = ""
	}
	if a.protected {
		if _, err := protections.Delete(protectionKey); err != nil {
			errs = append(errs, err)
		}
		a.protected = false
	}
	return errors.Join(errs...)
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// asnDBs shares open ASN databases across configs, keyed by path and content, so a reload
// after the file was replaced opens the new file.
var asnDBs = caddy.NewUsagePool()

type pooledASNDB struct{ *network.ASNDB }

func (p pooledASNDB) Destruct() error { return p.Close() }

func loadASNDB(path string) (*network.ASNDB, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("cannot open ASN database %s: %w", path, unwrapPathErr(err))
	}
	// By content: a file replaced by one of the same size and time is still a new database.
	key := fmt.Sprintf("%s|%d|%s", path, fi.Size(), fileHash(path))
	v, _, err := asnDBs.LoadOrNew(key, func() (caddy.Destructor, error) {
		db, err := network.OpenASN(path)
		if err != nil {
			return nil, err
		}
		return pooledASNDB{db}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledASNDB).ASNDB, key, nil
}

func storeKey(c StoreConfig) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)

// whatHappensOnError says what a config that fails to load leaves running: the previous
// configuration on a reload, nothing on a first start.
func whatHappensOnError() string {
	if caddy.ActiveContext().Context == nil {
		return "nothing was started"
	}
	return "the running configuration is kept"
}
