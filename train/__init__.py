"""eggemo.train"""
