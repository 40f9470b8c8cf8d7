package ohif

// Version is the @ohif/app release whose built app (its dist/ folder) `make ohif` installs
// into .cache/ohif/<Version>/dist and that this package's rewriting rules were checked
// against. The Makefile reads it from this line; bump it together with OHIF_SHA512 there.
const Version = "3.13.2"

// DefaultDir is where `make ohif` installs the build, relative to the source folder (where
// `make run` starts pacsd).
const DefaultDir = ".cache/ohif/" + Version + "/dist"
