package dicom

// PersonName is a PN value split into its component groups (PS3.5 6.2.1): alphabetic
// (romanised, e.g. "Zhang^Wei"), ideographic (e.g. "张^伟"), phonetic. Components stay
// '^'-separated inside each group.
type PersonName struct {
	Alphabetic  string
	Ideographic string
	Phonetic    string
}

// ParsePersonName splits a decoded (UTF-8) PN value at '=' into its groups.
func ParsePersonName(s string) PersonName {
	panic("TODO")
}

// String joins the groups with '=' and drops trailing empty groups.
func (p PersonName) String() string {
	panic("TODO")
}
