package audit

import "context"

type actorKey struct{}

// WithActor returns ctx carrying who is acting: the reading room's authentication puts
// the user there, so that handlers mounted behind it (DICOMweb, OHIF's requests) record
// events under that user without knowing how the user was authenticated.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor WithActor put in ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Auditor is what a recorded path holds: a *Recorder, or Discard.
type Auditor interface {
	Record(ctx context.Context, ev Event)
}

var _ Auditor = (*Recorder)(nil)

// Discard records nothing: for tests and benchmarks, and a component given no recorder.
var Discard Auditor = discard{}

type discard struct{}

func (discard) Record(context.Context, Event) {}
