package viewer

import "github.com/labstack/echo/v4"

// The study page's critical findings, claims, the phrase library and two-level review (not yet built).

// workflowMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var workflowMessages = [][3]string{}

func (v *Viewer) workflowRoutes(e *echo.Echo, g guards) {}
