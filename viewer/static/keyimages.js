// Study page: key images and prior studies (not yet built).
