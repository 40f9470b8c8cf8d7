package viewer

import "github.com/labstack/echo/v4"

// The study page's the image viewer: layouts, display, full resolution and preview frames (not yet built).

// viewingMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var viewingMessages = [][3]string{}

func (v *Viewer) viewingRoutes(e *echo.Echo, g guards) {}
