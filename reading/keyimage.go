package reading

// KeyImages keeps a study's key images (not yet built).
type KeyImages interface{}
