// Package ohif serves OHIF v3, the web viewer county radiologists read in, from pacsd itself,
// wired to pacsd's own DICOMweb at the same origin.
//
// OHIF is not built here: `make ohif` unpacks the published build (the dist/ folder of the
// npm package @ohif/app, release Version) into DefaultDir (.cache/ohif/<Version>/dist), and
// Register serves that folder under a mount (default /ohif/):
//
//   - index.html for the mount itself and for every client route of the single-page app
//     (/ohif/viewer?StudyInstanceUIDs=…); a missing file with a known extension is 404, so a
//     broken build shows up as such instead of as HTML where a script was expected.
//   - A generated app-config.js instead of the dist's: one "dicomweb" data source whose
//     WADO-RS and WADO-URI roots are pacsd's DICOMweb (PublicURL + DICOMwebPath when a public
//     URL is configured, else the page's origin + DICOMwebPath) and whose QIDO root is the
//     mount's search root (below), with the query, rendering and bulk data options pacsd's
//     DICOMweb supports.
//   - Chinese names in OHIF (names.go): OHIF shows a Person Name by its alphabetic group
//     ("Zhang^Wei=张^伟" reads "Zhang, Wei"; "=张^伟" reads as nothing) and filters the study
//     list again in the browser on that text. OHIF's searches go to <mount>/dicomweb, which
//     hands them to pacsd's DICOMweb in-process (same matching, access checks and errors) and,
//     in a study search answer only, puts the name as a Chinese reader writes it into the
//     alphabetic group: "张伟 (Zhang Wei)", "张伟". app-config.js also tells the study list's
//     patient column (OHIF's workList.columns customization) to keep every study pacsd
//     found, so pinyin ("zhang") finds 张伟 as pacsd does. /dicomweb stays standard for every
//     other client; OHIF's metadata is not rewritten (it goes into the reports OHIF may store),
//     so the viewer's own patient header still shows OHIF's reading of the alphabetic group.
//   - The build's absolute "/…" paths rewritten to the mount's public path while serving: the
//     published build is made for the root of a site (window.PUBLIC_URL="/", webpack's
//     publicPath "/", url(/…) in CSS). See rewrite.go for the rules.
//   - Fixed media types (application/wasm for the codecs, text/javascript, text/css),
//     one-year immutable caching for content-hashed file names, revalidation (ETag) for the rest.
//   - A doctor's share link (share.go, with Config.SharePath): OHIF's dicomwebproxy data source
//     opens the link's study from <mount>/share/{token}/config.json, which names the link's
//     DICOMweb; the proxy route is served only with such a configuration. Guard is the staff
//     check in front of the mount that lets the app's files and this way in pass.
//
// When the dist folder is missing, the mount answers 404 with a short explanation and Register
// logs it once; pacsd runs without the viewer. OHIF's own first-use screens (its
// "investigational use" notice, the viewer tour) are left as OHIF ships them.
//
// The package knows nothing of the archive: OHIF talks to pacsd only over DICOMweb (package
// dicomweb). Its browser test (go test ./ohif/) drives OHIF in headless Chromium through
// internal/browsertest and browsertest/ohif.mjs against a real archive.
package ohif
