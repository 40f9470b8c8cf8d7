package reading

// Workflow keeps critical findings, claims on studies, the phrase library and the review setting (not yet built).
type Workflow interface{}
