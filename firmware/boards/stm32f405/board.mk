# STM32F405RG on a wearable board: 8 MHz HSE crystal, EGG front end on PA0
# (ADC1 channel 0), host link on USART1 (PA9 TX, PA10 RX).
BOARD_DIR   := boards/stm32f405
CHIP_DIR    := boards/stm32f405
BOARD_SRC   := $(BOARD_DIR)/board.c $(CHIP_DIR)/cortexm.c $(CHIP_DIR)/startup.c
BOARD_INC   := $(BOARD_DIR)
LDSCRIPT    := $(CHIP_DIR)/stm32f405.ld
