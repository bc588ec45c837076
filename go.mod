module github.com/fcconv/fcconv

go 1.26.8

require (
	golang.org/x/sys v0.50.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
