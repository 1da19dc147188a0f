#!/usr/bin/env node
// The executable (package.json bin, deploy units): stays at this path; the CLI itself is app/main.ts.
import './app/main.js';
