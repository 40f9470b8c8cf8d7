// Package viewer is the reading room: the web pages pacsd serves at "/" for county
// radiologists (worklist, study view with images, report editor, turnaround dashboard),
// for township users (their own site's studies, signed reports, an A4 print view) and for
// administrators (sites, users, report templates). Pages are html/template with assets
// embedded (embed.FS) and plain JavaScript; no build step. Every visible string comes from
// the message catalogue (messages.go): Chinese by default, English by a switch.
//
// It is not the archive (store), the domain (reading) or the diagnostic viewer (OHIF, at
// /ohif/, linked from the study view).
//
// # Security
//
// Accounts are local (reading.User); passwords are bcrypt hashes. A login creates a session
// whose random 256-bit token is the cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and
// whose SHA-256 is what the database keeps. Every session has its own CSRF token, required
// on every POST, PUT and DELETE (form field "csrf" or header X-CSRF-Token, compared in
// constant time); unsafe requests from another Origin are refused outright. Failed logins
// are limited per user name and client address. Who may see a study is decided in one
// place, Viewer.authorizeStudy: staff (radiologists, admins) see every study; a site user
// sees only the studies attributed to its site, and gets 404 for any other, on pages,
// thumbnails, pixels and reports alike. RequireStaff guards other handlers (DICOMweb,
// OHIF) the same way.
//
// Every user changes their own password at /account/password (linked from every page's
// header): the current password must verify (failures count toward the login limits), the
// new one must differ from it, be typed twice alike and follow the one policy (8-72 bytes,
// checkPasswordPolicy, also applied by the admin forms). A change ends the user's other
// sessions and gives this browser a new one. A password somebody else chose (the generated
// one of the first start, or one an administrator set with "must change it at next login",
// ticked by default) marks the account (reading.User.MustChangePassword): the login leads to
// the change-password page, every other page redirects there, every API answers 403 with
// code "err.mustchange", and HTTP Basic authentication with it is refused (401) until the
// user has chosen their own.
//
// # Images
//
// Window/level must feel live on a 3000x3000 DR, so windowing is done in the browser:
// the viewer fetches each greyscale frame as 16-bit values with the Modality LUT applied on
// the server (.../frames/{n}/pixels, cached on the server): first a preview of at most 1024
// pixels a side (?preview=1), quick to make and to send, then the whole frame at full
// resolution, swapped in without a jump; a drag step maps the part on the screen through a
// 65536-entry lookup table in JavaScript. Colour images (ultrasound) are rendered by the
// server as JPEG (.../frames/{n}/rendered) and shown as they are; multi-frame images play as
// cine from those, at the file's Cine Rate or Frame Time. A server round trip per window
// step would cost a decode-free re-render plus JPEG encoding and transfer for each mouse move.
//
// The study page's diagnosis features each have their own file, routes and messages:
// viewing.go (layouts, hanging, overlay, orientation, calibration, full-resolution frames),
// measurements.go (measurements stored as a TID 1500 SR), keyimages.go (key images as a Key
// Object Selection document, and the patient's prior studies), workflow.go (critical
// findings, claims, phrases, two-level review) and share.go (share links, 云胶片).
//
// # Reports
//
// Drafts are saved as the radiologist types (debounced PUT), though empty text never
// creates a first draft; signing needs both findings and impression, and makes the version
// final with the signer and time recorded; an amendment opens a new version with a reason
// (shown to staff as in progress, while the township keeps the signed one), and no version
// is ever overwritten once signed. The editor preselects the template that fits the
// study's modality and body region (suggest.go), or none, and asks before a template
// replaces text already written. Times are shown and printed in Config.Location. Each signed version is written into its
// study as a Basic Text SR (package reading/sr) through Archive.Put, retried in the
// background until it is stored.
package viewer
