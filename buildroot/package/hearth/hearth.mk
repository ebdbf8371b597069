################################################################################
#
# hearth
#
################################################################################

# Built from this source tree (the BR2_EXTERNAL lives in its buildroot/
# folder); Buildroot vendors the Go modules when it copies the tree.
HEARTH_VERSION = local
HEARTH_SITE = $(BR2_EXTERNAL_HEARTH_PATH)/..
HEARTH_SITE_METHOD = local
# No license file yet: the project has not chosen one.
HEARTH_GOMOD = github.com/hearthp2p/hearth
HEARTH_BUILD_TARGETS = cmd/hearth
HEARTH_INSTALL_BINS = hearth
# The media codecs through cgo, from Buildroot's libvpx, x264 and opus
# (the tag dynamic takes Opus from the system, not the Go module's copy).
HEARTH_TAGS = codecs dynamic
HEARTH_LDFLAGS = -X github.com/hearthp2p/hearth/internal/version.Version=buildroot
HEARTH_DEPENDENCIES = host-pkgconf libvpx x264 opus

define HEARTH_USERS
	hearth -1 hearth -1 * /var/lib/hearth - video,audio,gpio Hearth daemon
endef

define HEARTH_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/hearth.service \
		$(TARGET_DIR)/usr/lib/systemd/system/hearth.service
endef

# The settings: the overlay's first-boot file wins; without an overlay,
# the documented example.
define HEARTH_INSTALL_CONFIG
	if [ ! -e $(TARGET_DIR)/etc/hearth/hearth.toml ]; then \
		$(INSTALL) -D -m 0640 $(@D)/device/config/hearth.example.toml \
			$(TARGET_DIR)/etc/hearth/hearth.toml; \
	fi
endef
HEARTH_POST_INSTALL_TARGET_HOOKS += HEARTH_INSTALL_CONFIG

$(eval $(golang-package))
