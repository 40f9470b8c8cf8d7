// Package reading is the reading room's domain: the site registry that attributes each
// study to the township that sent it, local accounts and their sessions, report templates,
// reports with every version kept, the worklist's rows and filter, and the turnaround
// figures. Its boundary is one small interface per aggregate (Sites, Users with their
// sessions, Reports with their templates, Worklist) and Repository, their union, which
// store/sqlite implements in the index's database (so the worklist is one indexed query over
// the studies); readingtest is the contract every implementation passes.
//
// It is not the web UI (package viewer), holds no policy about who may see what (viewer
// decides, from a User's Role and SiteID) and knows nothing of HTTP, SQL or DICOM encoding.
//
// Site attribution: a study belongs to the site whose calling AE titles include the AE
// title of the first object received for it (STOW-RS objects have none: the first DIMSE
// sender then counts); failing that, to the site whose institution names include the
// study's Institution Name (0008,0080); otherwise it is from an unknown sender, listed as such
// and never dropped. The result is kept per study so the worklist can filter on an index,
// and resolved again for every study whenever the registry changes, so a site registered
// after its first studies arrived claims them.
//
// Report statuses: a study with no report is unread; with only a draft, draft; once a
// version is signed, final (version 1) or amended (a later version). An amendment in
// progress (a draft over a signed version) does not change the study's status: the signed
// version stays the one township users see.
package reading
