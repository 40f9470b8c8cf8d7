package dicomweb

import (
	"pacsd/dicom"
	"pacsd/dicom/pixel"
)

// Where the frames of a stored object lie is pixel.Layout's to say (dicom/pixel/layout.go,
// PS3.5 A.4): the instance record caches one, and frames and bulk data are served from it.
// These are its names in this package.

type fragment = pixel.Fragment

// maxFrames bounds frame numbers in requests: no instance has more.
const maxFrames = pixel.MaxFrames

const undefinedLength = dicom.UndefinedLength

var (
	// errNoFrames: the frames of an object cannot be separated (damaged encapsulation, an
	// encoding this server does not cut into frames). The object itself is still retrievable.
	errNoFrames = pixel.ErrNoFrames
	// errFrameRange: a frame number beyond the object's frames.
	errFrameRange = pixel.ErrFrameRange
)
