package reading

// Annotations keeps a study's measurements and annotations (not yet built).
type Annotations interface{}
