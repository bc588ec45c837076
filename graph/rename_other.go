//go:build !linux

package graph

// moveIntoPlace renames from to to, replacing any file there, and reports whether one was there.
func moveIntoPlace(from, to string) (replaced bool, err error) {
	return lookThenRename(from, to)
}
