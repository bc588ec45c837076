// Package testdata holds fcconv's small fixture models; `go generate ./testdata` rewrites them.
package testdata

//go:generate go run ../internal/mksamples .
