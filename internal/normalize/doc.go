// Package normalize computes, once per request, the one view of it that every matcher, budget
// key and site lookup uses: the path as Apache and nginx resolve it to a file (decoded,
// cleaned, PATH_INFO split off, extensions case-folded), whether that file runs as PHP, and
// the Host validated and normalised. A client that spells a path or a host differently
// (//wp-login.php, /./xmlrpc.php, /%2e/wp-content/uploads/x.PHP, /x.php/y, Victim.Test..:80)
// reaches the same file and site on the backend, so it must meet the same rules here.
//
// It knows nothing of Caddy.
package normalize
