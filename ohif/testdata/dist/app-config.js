window.config = { name: 'the build's own configuration, which pacsd replaces' };
