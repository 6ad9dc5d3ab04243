"""HTTP routes: pages and form actions for the browser, a JSON API for the page's JS."""
