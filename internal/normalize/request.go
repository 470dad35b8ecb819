package normalize

// View is the normalised request: what every matcher, budget key and site lookup uses.
type View struct {
	Path
	// Host is the normalised Host (see Host); JunkHost when it is not a valid name.
	Host string
	// HostValid is false when Host is JunkHost because the client sent no valid name.
	HostValid bool
}

// Of computes the view of a request from its Host header and decoded path (URL.Path).
func Of(host, decodedPath string) View {
	v := View{Path: CleanPath(decodedPath)}
	v.Host, v.HostValid = Host(host)
	return v
}
