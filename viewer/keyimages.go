package viewer

import "github.com/labstack/echo/v4"

// The study page's key images (Key Object Selection) and prior studies (not yet built).

// keyImageMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var keyImageMessages = [][3]string{}

func (v *Viewer) keyImageRoutes(e *echo.Echo, g guards) {}
