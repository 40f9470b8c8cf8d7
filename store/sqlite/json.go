package sqlite

import "pacsd/store/sqldb"

// The derivation of name columns and keys is shared with PostgreSQL (store/sqldb); these
// are its names in this package.
var (
	normPN     = sqldb.NormPN
	fold       = sqldb.Fold
	fuzzyName  = sqldb.FuzzyName
	splitWords = sqldb.SplitWords
	givenNames = sqldb.GivenNames
	pinyinKeys = sqldb.PinyinKeys
)

const (
	maxPinyinKeys = sqldb.MaxPinyinKeys
)
