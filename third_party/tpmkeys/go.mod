module github.com/globalsign/tpmkeys

go 1.22

require github.com/google/go-tpm v0.9.6
