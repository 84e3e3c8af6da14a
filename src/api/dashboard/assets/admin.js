// rxpool dashboard: admin views (placeholder until they are written).
"use strict";
