module pacsd

go 1.26.0

require github.com/suyashkumar/dicom v1.1.0
