package engine

import "sync/atomic"

// compiles counts the calls of Compile in this process (not the subgraph programs a compile
// builds), so that tests can hold a pipeline to the compiles it is meant to make.
var compiles atomic.Int64

// Compiles returns how many times Compile has been called in this process.
func Compiles() int64 { return compiles.Load() }
