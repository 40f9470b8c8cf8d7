package viewer

import "github.com/labstack/echo/v4"

// The study page's measurements and annotations, stored as DICOM (not yet built).

// measureMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var measureMessages = [][3]string{}

func (v *Viewer) measureRoutes(e *echo.Echo, g guards) {}
