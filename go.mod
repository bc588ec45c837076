module github.com/fcconv/fcconv

go 1.26.8
