'use strict';
/** pltrackd-client: send PromptLayer tracking calls to the local pltrackd sidecar. */
module.exports = { ...require('./pltrack'), ...require('./tracking') };
