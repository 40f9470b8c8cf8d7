package dicom

// JSONAttribute is one attribute of the DICOM JSON model (PS3.18 F.2.2).
// Value holds strings, numbers, PN objects (map with Alphabetic/Ideographic/Phonetic keys)
// or nested JSONDataset items, by VR (PS3.18 F.2.3).
type JSONAttribute struct {
	VR           string `json:"vr"`
	Value        []any  `json:"Value,omitempty"`
	BulkDataURI  string `json:"BulkDataURI,omitempty"`
	InlineBinary string `json:"InlineBinary,omitempty"`
}

// JSONDataset is a DICOM JSON object keyed by eight-hex-digit tags; encoding/json sorts map
// keys, which gives the ascending tag order PS3.18 F.2.1 asks for.
type JSONDataset map[string]JSONAttribute

// JSONOptions steers Dataset.ToJSON.
type JSONOptions struct {
	// Include selects the top-level tags to convert; nil means all.
	Include func(Tag) bool
	// BulkDataURI, when set, is called for binary values (OB/OW/OD/OF/OL/OV/UN) and values
	// that were too long to load; it returns the URI to put in BulkDataURI. When nil, loaded
	// binary values are emitted as InlineBinary (base64) and unloaded ones are omitted.
	BulkDataURI func(path []Tag, e *Element) string
}

// ToJSON converts the data set to the DICOM JSON model. PN values become objects with
// their non-empty groups; IS/DS become JSON numbers; empty values have no "Value".
func (d *Dataset) ToJSON(opts JSONOptions) JSONDataset {
	panic("TODO")
}

// PersonNameJSON is the PS3.18 F.2.2 object for one PN value.
func PersonNameJSON(s string) map[string]string {
	panic("TODO")
}
