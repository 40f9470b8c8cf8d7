// The print view's button; the page itself is plain HTML so any browser prints it.
document.getElementById('print-now')?.addEventListener('click', () => window.print());
