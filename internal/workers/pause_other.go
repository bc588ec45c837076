//go:build !amd64

package workers

// pause has no spin-wait hint to give off amd64.
func pause() {}
