package workers

// pause is the spin-wait hint (see pause_amd64.s).
//
//go:noescape
func pause()
