// a stand-in for a webpack bundle: its runtime and a reference it must keep
(() => {
__webpack_require__.p = "/";
})();
var protocolRelative = "//cdn.example/x.js";
