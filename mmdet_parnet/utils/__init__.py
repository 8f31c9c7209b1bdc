"""What the tools share: safe checkpoint loading, CPU distributed set-up,
runner set-up, mmdet's bundled tools, work-dir reading, complexity counting
and plotting."""
