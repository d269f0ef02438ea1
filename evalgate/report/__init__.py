"""Rendering the regression report: loading every input once (loaders), the paired analysis
(analysis, items), what the templates see (context, views), the SVG charts and the templates
(render). The `report` stage itself is evalgate.stages.report."""
