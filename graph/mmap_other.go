//go:build !linux

package graph

func mapFile(path string) ([]byte, func(), error) { return readWhole(path) }

func dropPages([]byte) {}
