// Imported first by benchmarks that load the console: React and Remix pick
// their production builds when first loaded, as under `holdfast console`.
process.env.NODE_ENV ??= 'production';
