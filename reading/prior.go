package reading

// Priors finds the other studies of a study's patient (not yet built).
type Priors interface{}
