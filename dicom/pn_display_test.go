package dicom

import "testing"

func TestPersonNameDisplay(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"张伟", "张伟"},
		{"张^伟", "张伟"},
		{"Zhang^Wei=张^伟", "张伟"},
		{"Zhang^Wei", "Zhang Wei"},
		{"Zhang^Wei^^", "Zhang Wei"},
		{"Li^Na=李^娜=li^na", "李娜"},
		{"Li^Na= =li^na", "Li Na"},
		{"", ""},
	} {
		if got := ParsePersonName(c.in).Display(); got != c.want {
			t.Errorf("ParsePersonName(%q).Display() = %q, want %q", c.in, got, c.want)
		}
	}
}
