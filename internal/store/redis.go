package store

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisURLForms lists the accepted Redis URL forms, for error messages and
// docs.
const RedisURLForms = "redis://[user:password@]host:port[/db][?options], " +
	"rediss://… (TLS), " +
	"redis+sentinel://[user:password@]host1:26379[,host2:26379…]/master[/db][?sentinel_password=…&options], " +
	"rediss+sentinel://… (TLS), " +
	"redis+cluster://[user:password@]host1:7000[,host2:7001…][?options], " +
	"rediss+cluster://… (TLS)"

// ParseRedisURL builds a go-redis client from a URL in one of these forms:
//
//	redis://[user:password@]host:port[/db][?options]          single server
//	rediss://…                                                single server, TLS
//	redis+sentinel://[user:password@]h1:26379,h2:26379/master[/db][?options]
//	rediss+sentinel://…                                       Sentinel, TLS to the data nodes and sentinels
//	redis+cluster://[user:password@]h1:7000,h2:7001[?options] Redis Cluster (no db)
//	rediss+cluster://…                                        Redis Cluster, TLS
//
// The user and password are those of the Redis data nodes. For Sentinel,
// the sentinels' own password goes in the option sentinel_password. Options
// are go-redis's URL options (dial_timeout, read_timeout, write_timeout,
// pool_size, max_retries, …); unknown options are errors. Clients built
// here honour context deadlines (ContextTimeoutEnabled), which the batched
// store relies on to bound a sync. Errors never contain the password.
func ParseRedisURL(raw string) (redis.UniversalClient, error) {
	raw = strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, urlError(raw, errors.New("missing scheme"))
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		u, err := url.Parse(raw)
		if err != nil {
			return nil, urlError(raw, errors.New("malformed URL"))
		}
		if u.Hostname() == "" {
			return nil, urlError(raw, errors.New("missing host"))
		}
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, urlError(raw, err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClient(o), nil
	case "redis+sentinel", "rediss+sentinel":
		o, err := parseSentinel(strings.TrimSuffix(strings.ToLower(scheme), "+sentinel"), rest)
		if err != nil {
			return nil, urlError(raw, err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(o), nil
	case "redis+cluster", "rediss+cluster":
		o, err := parseCluster(strings.TrimSuffix(strings.ToLower(scheme), "+cluster"), rest)
		if err != nil {
			return nil, urlError(raw, err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClusterClient(o), nil
	default:
		return nil, urlError(raw, fmt.Errorf("unknown scheme %q", scheme))
	}
}

// multiHost is the parsed authority and tail of a +sentinel/+cluster URL.
type multiHost struct {
	userinfo string   // raw, still percent-encoded, "" when absent
	user     string   // decoded
	password string   // decoded
	hosts    []string // host:port
	path     string
	query    url.Values
}

func parseMultiHost(rest string) (*multiHost, error) {
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.Contains(tail, "#") {
		return nil, errors.New("fragments (#…) are not allowed")
	}
	m := &multiHost{}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		m.userinfo, authority = authority[:i], authority[i+1:]
		u, err := url.Parse("redis://" + m.userinfo + "@h")
		if err != nil || u.User == nil {
			return nil, errors.New("malformed user:password part")
		}
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
	}
	if authority == "" {
		return nil, errors.New("missing host list (expected host:port[,host:port…])")
	}
	for _, h := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("host %q is not host:port", h)
		}
		m.hosts = append(m.hosts, net.JoinHostPort(host, port))
	}
	path, query, _ := strings.Cut(tail, "?")
	m.path = path
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("malformed query string")
	}
	m.query = q
	return m, nil
}

// goRedisURL rebuilds a go-redis style URL (first host in the authority,
// the others as addr= options) without credentials.
func (m *multiHost) goRedisURL(scheme, path string, extra url.Values) string {
	q := url.Values{}
	for k, v := range m.query {
		q[k] = v
	}
	for _, h := range m.hosts[1:] {
		q.Add("addr", h)
	}
	for k, v := range extra {
		q[k] = v
	}
	return scheme + "://" + m.hosts[0] + path + "?" + q.Encode()
}

func parseSentinel(scheme, rest string) (*redis.FailoverOptions, error) {
	m, err := parseMultiHost(rest)
	if err != nil {
		return nil, err
	}
	parts := strings.FieldsFunc(m.path, func(r rune) bool { return r == '/' })
	if len(parts) == 0 || len(parts) > 2 {
		return nil, errors.New("path must be /master-name[/db]")
	}
	sentinelPassword := m.query.Get("sentinel_password")
	m.query.Del("sentinel_password")
	path := ""
	if len(parts) == 2 {
		path = "/" + parts[1]
	}
	o, err := redis.ParseFailoverURL(m.goRedisURL(scheme, path, url.Values{"master_name": {parts[0]}}))
	if err != nil {
		return nil, scrub(err, m.password, m.userinfo, sentinelPassword)
	}
	if m.userinfo != "" {
		o.Username, o.Password = m.user, m.password
	}
	o.SentinelPassword = sentinelPassword
	return o, nil
}

func parseCluster(scheme, rest string) (*redis.ClusterOptions, error) {
	m, err := parseMultiHost(rest)
	if err != nil {
		return nil, err
	}
	if strings.Trim(m.path, "/") != "" {
		return nil, errors.New("a cluster URL has no path (Redis Cluster has only database 0)")
	}
	o, err := redis.ParseClusterURL(m.goRedisURL(scheme, "", nil))
	if err != nil {
		return nil, scrub(err, m.password, m.userinfo)
	}
	o.Username, o.Password = m.user, m.password
	return o, nil
}

// urlError reports a bad Redis URL without its credentials.
func urlError(raw string, err error) error {
	return fmt.Errorf("store: bad Redis URL %q: %v (expected one of: %s)",
		redact(raw), scrub(err, secrets(raw)...), RedisURLForms)
}

// redact replaces the user:password part of a URL-like string with xxxxx and
// drops the query string (it may hold sentinel_password).
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") {
			return "xxxxx"
		}
		return raw
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	if i := strings.LastIndex(rest[:end], "@"); i >= 0 {
		rest = "xxxxx@" + rest[i+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + "?…"
	}
	return scheme + "://" + rest
}

// secrets returns the strings of raw that must not appear in messages.
func secrets(raw string) []string {
	var out []string
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return []string{raw}
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	if i := strings.LastIndex(rest[:end], "@"); i >= 0 {
		ui := rest[:i]
		out = append(out, ui)
		if _, pw, ok := strings.Cut(ui, ":"); ok {
			out = append(out, pw)
			if dec, err := url.PathUnescape(pw); err == nil {
				out = append(out, dec)
			}
		}
	}
	if _, q, ok := strings.Cut(raw, "?"); ok {
		if v, err := url.ParseQuery(q); err == nil {
			for _, k := range []string{"sentinel_password", "password"} {
				if s := v.Get(k); s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// scrub returns err with every non-empty secret replaced by xxxxx.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 1 {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return errors.New(msg)
}
