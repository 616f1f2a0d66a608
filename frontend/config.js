// Defaults for this page. When the page is hosted apart from the API (S3, a CDN, GitHub
// Pages), set apiBase to the deployed API's URL, e.g. "https://abc123.execute-api.eu-west-1.amazonaws.com/Prod".
// An empty apiBase means the API is on the same origin as the page.
export default {
  apiBase: "",
};
